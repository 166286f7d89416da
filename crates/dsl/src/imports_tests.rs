//! Imports, in temporary folders: what resolves, what is refused, and where a module's own
//! problems are reported.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::evaluate_file;
use crate::test_support::messages;

const JOB: &str = r#"let p = Process(#{ name: "hello", cmdline: "echo hello" });
let jobs = [ Job(#{ cluster: "devcluster", role: "www-data", environment: "devel", name: "imported",
                    task: SequentialTask(#{ processes: [p], resources: common::small() }) }) ];
"#;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create the folder");
    }
    std::fs::write(&path, text).expect("write the file");
    path
}

/// The printed diagnostics of the job file at `path`; panics if it evaluates cleanly.
fn diagnostics_of(path: &Path) -> Vec<String> {
    match evaluate_file(path, &BTreeMap::new()) {
        Ok(jobs) => panic!("expected diagnostics, got {jobs:#?}"),
        Err(diagnostics) => diagnostics.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn a_module_beside_the_job_file_provides_functions_constants_and_constructors() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    write(
        dir.path(),
        "lib/common.rhai",
        "export const OWNER = \"web-team\";\nfn small() { Resources(#{ cpu: 0.25, ram: 64 * MB, disk: 64 * MB }) }",
    );
    let job = write(
        dir.path(),
        "job.rhai",
        &format!(
            "import \"lib/common\" as common;\n{}",
            JOB.replace("name: \"imported\"", "name: \"imported\", contact: common::OWNER")
        ),
    );
    let jobs = evaluate_file(&job, &BTreeMap::new()).expect("evaluates");
    assert_eq!(jobs[0].key.to_string(), "devcluster/www-data/devel/imported");
    assert_eq!(jobs[0].config.task.resources.ram_mb, 64);
    assert_eq!(jobs[0].config.contact.as_deref(), Some("web-team"));
}

#[test]
fn paths_leaving_the_folder_are_refused() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    for (import, line) in [("../etc/passwd", 1), ("/etc/passwd", 1), ("lib/../../x", 1)] {
        let job = write(dir.path(), "job.rhai", &format!("import \"{import}\" as x;\nlet jobs = [];\n"));
        let diagnostics = diagnostics_of(&job);
        assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
        assert!(diagnostics[0].starts_with(&format!("{}:{line}:8: ", job.display())), "{diagnostics:?}");
        assert!(diagnostics[0].contains("imports resolve only inside the job file's folder"), "{diagnostics:?}");
    }
}

#[cfg(unix)]
#[test]
fn a_link_leading_out_of_the_folder_is_refused() {
    let outside = tempfile::tempdir().expect("a temporary folder");
    let secret = write(outside.path(), "secret.rhai", "fn small() { 1 }");
    let dir = tempfile::tempdir().expect("a temporary folder");
    std::os::unix::fs::symlink(&secret, dir.path().join("common.rhai")).expect("a link");
    let job = write(dir.path(), "job.rhai", &format!("import \"common\" as common;\n{JOB}"));
    let diagnostics = diagnostics_of(&job);
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    assert!(diagnostics[0].contains("imports resolve only inside the job file's folder"), "{diagnostics:?}");
    assert!(diagnostics[0].contains("links outside it"), "{diagnostics:?}");
}

#[test]
fn a_missing_module_names_the_file_looked_for() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let job = write(dir.path(), "job.rhai", &format!("import \"common\" as common;\n{JOB}"));
    let diagnostics = diagnostics_of(&job);
    let looked_for = dir.path().join("common.rhai");
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    assert!(
        diagnostics[0].starts_with(&format!(
            "{}:1:8: cannot import \"common\": cannot read {}: ",
            job.display(),
            looked_for.display()
        )),
        "{diagnostics:?}"
    );
}

#[test]
fn text_evaluated_without_a_folder_cannot_import() {
    let diagnostics = crate::evaluate("import \"common\" as common;\nlet jobs = [];", "job.rhai").expect_err("refused");
    assert_eq!(
        messages(&diagnostics.iter().map(ToString::to_string).collect::<Vec<_>>()),
        vec![
            "cannot import \"common\": imports resolve only inside the job file's folder, and this job file was not \
             read from a folder"
        ]
    );
}

#[test]
fn problems_inside_a_module_name_the_module_file_and_position() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let module = write(
        dir.path(),
        "common.rhai",
        "fn small() {\n    Resources(#{ cpu: 0.25, ram: 64 * MB, disk: 64 * MB, gpus: 1 })\n}\nfn broken() {\n    throw \"broken\";\n}",
    );
    let job = write(dir.path(), "job.rhai", &format!("import \"common\" as common;\n{JOB}let x = common::broken();\n"));
    let diagnostics = diagnostics_of(&job);
    assert_eq!(
        diagnostics,
        vec![
            format!("{}:2:58: Resources has no field 'gpus'; did you mean 'gpu'?", module.display()),
            format!("{}:5:5: broken (in function 'broken' called at {}:5:17)", module.display(), job.display()),
        ]
    );
}

#[test]
fn an_error_while_a_module_loads_is_placed_in_it() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let module = write(dir.path(), "common.rhai", "let x = 1;\nlet y = x + ;\n");
    let job = write(dir.path(), "job.rhai", &format!("import \"common\" as common;\n{JOB}"));
    assert_eq!(
        diagnostics_of(&job),
        vec![format!("{}:2:13: Unexpected ';' (in a module imported at {}:1:8)", module.display(), job.display())]
    );
    write(dir.path(), "common.rhai", "let x = 1;\nx.nothing();\n");
    let diagnostics = diagnostics_of(&job);
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    assert!(
        diagnostics[0].starts_with(&format!("{}:2:3: Function not found: nothing", module.display())),
        "{diagnostics:?}"
    );
}

#[test]
fn an_import_cycle_and_too_many_modules_are_errors() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let a = write(dir.path(), "a.rhai", "import \"b\" as b;\n");
    write(dir.path(), "b.rhai", "import \"a\" as a;\n");
    let job = write(dir.path(), "job.rhai", "import \"a\" as a;\nlet jobs = [];\n");
    let diagnostics = diagnostics_of(&job);
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    assert!(diagnostics[0].contains(&format!("{} imports itself", a.display())), "{diagnostics:?}");

    for n in 0..20 {
        write(dir.path(), &format!("m{n}.rhai"), &format!("import \"m{}\" as next;\n", n + 1));
    }
    let job = write(dir.path(), "job.rhai", "import \"m0\" as m;\nlet jobs = [];\n");
    let diagnostics = diagnostics_of(&job);
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    assert!(diagnostics[0].contains("a job file may import at most 16 modules"), "{diagnostics:?}");
}

#[test]
fn a_module_imported_twice_is_evaluated_once() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    write(
        dir.path(),
        "common.rhai",
        "fn small() { Resources(#{ cpu: 0.25, ram: 64 * MB, disk: 64 * MB, gpus: 1 }) }\nsmall();",
    );
    let job =
        write(dir.path(), "job.rhai", &format!("import \"common\" as common;\nimport \"common\" as again;\n{JOB}"));
    let diagnostics = diagnostics_of(&job);
    assert_eq!(diagnostics.len(), 1, "one module evaluation, one problem: {diagnostics:?}");
}

#[test]
fn an_unreadable_job_file_is_one_diagnostic_at_its_start() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let missing = dir.path().join("missing.rhai");
    let diagnostics = diagnostics_of(&missing);
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    assert!(diagnostics[0].starts_with(&format!("{}:1:1: cannot read the job file: ", missing.display())));
}
