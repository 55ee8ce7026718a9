//! Generated sections of a Markdown page: `docs/bad-inputs.md` holds one section per
//! table (the library's rows, the job's command-line rows), each rewritten by the test
//! that owns it. Shared by the stress suite and the job's tests (`#[path]`).

/// `page` with the section `name` replaced by `body` (appended when absent).
pub fn replace_section(page: &str, name: &str, body: &str) -> String {
    let begin = format!("<!-- begin {name} (generated, do not edit) -->\n");
    let end = format!("<!-- end {name} -->\n");
    let section = format!("{begin}{body}{end}");
    match (page.find(&begin), page.find(&end)) {
        (Some(start), Some(stop)) if start < stop => {
            format!("{}{section}{}", &page[..start], &page[stop + end.len()..])
        }
        _ if page.is_empty() => format!("# Bad inputs and faults\n\n{section}"),
        _ => format!("{page}\n{section}"),
    }
}

/// Rewrites section `name` of the page at `path` with `body` when `BAD_INPUTS_WRITE` is
/// set; otherwise fails if the page does not already hold it, naming `command`.
pub fn write_or_check(path: &std::path::Path, name: &str, body: &str, command: &str) {
    let page = std::fs::read_to_string(path).unwrap_or_default();
    let updated = replace_section(&page, name, body);
    if std::env::var_os("BAD_INPUTS_WRITE").is_some() {
        std::fs::write(path, updated).expect("the page is writable");
    } else {
        assert!(page == updated, "{} is stale: run {command}", path.display());
    }
}
