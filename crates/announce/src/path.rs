//! Where members live: `<root>/<role>/<environment>/<job>/member_<10-digit sequence>`, or the
//! job's own `Announcer.zk_path`.

use atoll_model::JobKey;

/// Aurora's default ServerSet root.
pub const DEFAULT_ROOT: &str = "/aurora";
/// What every member node's name starts with; readers select children by it.
pub const MEMBER_PREFIX: &str = "member_";

/// The ServerSet path of a job: `zk_path` when the job sets one, else
/// `<root>/<role>/<environment>/<name>`.
pub fn serverset_path(root: &str, job: &JobKey, zk_path: Option<&str>) -> String {
    match zk_path {
        Some(path) => path.trim_end_matches('/').to_owned(),
        None => format!("{}/{}/{}/{}", root.trim_end_matches('/'), job.role, job.environment, job.name),
    }
}

/// The node name of the member with sequence number `sequence`, as ZooKeeper names it.
pub fn member_name(sequence: u64) -> String {
    format!("{MEMBER_PREFIX}{sequence:010}")
}

/// The node a path lives under: `/a/b` for `/a/b/member_`, `/` for `/a` and `/`.
pub fn parent_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_names_follow_aurora() {
        let job: JobKey = "devcluster/www-data/prod/hello".parse().unwrap();
        assert_eq!(serverset_path(DEFAULT_ROOT, &job, None), "/aurora/www-data/prod/hello");
        assert_eq!(serverset_path("/sd/", &job, None), "/sd/www-data/prod/hello");
        assert_eq!(serverset_path(DEFAULT_ROOT, &job, Some("/custom/path/")), "/custom/path");
        assert_eq!(member_name(42), "member_0000000042");
        assert_eq!(parent_of("/aurora/www-data/prod/hello/member_"), "/aurora/www-data/prod/hello");
        assert_eq!((parent_of("/aurora"), parent_of("/")), ("/", "/"));
    }
}
