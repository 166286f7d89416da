#[test]
fn show() {
    for src in [
        "let jobs = [];\nlet m = #{}; for i in 0..20000 { m[`k${i}`] = i; }\nlet n = m;",
        "let jobs = [];\nlet m = #{}; for i in 0..20000 { m[`k${i}`] = i; }\nlet n = m; n.x = 1;",
        "let m = #{}; for i in 0..20000 { m[`k${i}`] = i; }\nlet jobs = [m];",
        "let jobs = [];\nlet m = #{}; for i in 0..20000 { m += #{ x: 1 }; m[`k${i}`] = i; }",
        "let jobs = [];\nlet a = []; for i in 0..200000 { a.push(i); }",
        "let jobs = [];\nlet a = []; for i in 0..200000 { a += [i]; }",
        "let jobs = [];\nlet a = [[]]; for i in 0..200000 { a[0].push(i); }",
        "let jobs = [];\nlet s = \"\"; for i in 0..200000 { s += \"xxxxxxxxxxxxxx\"; }",
        "let jobs = [];\nlet s = [\"\"]; for i in 0..200000 { s[0] += \"xxxxxxxxxxxxxx\"; }",
    ] {
        println!("---- {src}");
        match atoll_dsl::evaluate(src, "f.rhai") {
            Ok(jobs) => println!("OK {jobs:?}"),
            Err(d) => d.iter().for_each(|d| println!("{d}")),
        }
    }
}
