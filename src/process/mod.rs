//! Process manager: real child processes, output streamed to callbacks, stop one or all concurrently.
