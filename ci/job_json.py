#!/usr/bin/env python3
"""Reads the model-checking job's report files for the CI scripts (python3 only, no jq).

    job_json.py table JOB_JSON       one "backend test outcome" line per row, sorted
    job_json.py caught JOB_JSON      how many mutant runs passed (their bug was caught)
    job_json.py rows JOB_JSON        how many rows the report has
    job_json.py replays JOB_JSON     one "backend<TAB>test<TAB>message<TAB>command" line per
                                     row with a reproduce command; message is the first line
                                     of its last failure
    job_json.py replayed REPORT_JSONL  first line of the message of the first replayed failure
                                     in a RACEKIT_REPORT_FILE, or nothing
"""
import json
import sys


def load(path):
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def first_line(text):
    return (text or "").split("\n")[0]


def table(path):
    lines = sorted(f"{row['backend']} {row['test']} {row['outcome']}" for row in load(path)["rows"])
    print("\n".join(lines))


def caught(path):
    print(sum(1 for row in load(path)["rows"] if row.get("mutant") and row.get("outcome") == "passed"))


def rows(path):
    print(len(load(path)["rows"]))


def replays(path):
    for row in load(path)["rows"]:
        if row.get("replay") is None:
            continue
        failures = [check["failure"] for check in row.get("checks", []) if check.get("failure") is not None]
        message = first_line(failures[-1].get("message")) if failures else ""
        print("\t".join([row["backend"], row["test"], message, row["replay"]]))


def replayed(path):
    try:
        with open(path, encoding="utf-8") as file:
            for line in file:
                line = line.strip()
                if not line:
                    continue
                failure = json.loads(line).get("failure") or {}
                if failure.get("replayed") is True:
                    print(first_line(failure.get("message")))
                    return
    except (OSError, ValueError):
        pass


COMMANDS = {"table": table, "caught": caught, "rows": rows, "replays": replays, "replayed": replayed}

if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    COMMANDS[sys.argv[1]](sys.argv[2])
