//! Production quota: what counts, the arithmetic, Aurora's message, and additions checked too.

use atoll_model::Constraint;

use super::*;

fn production(name: &str, instances: u32) -> JobSpec {
    let mut spec = job(name, instances, true);
    spec.config.production = true;
    spec
}

fn aggregate(cpu_millis: u64, ram_mb: u64, disk_mb: u64) -> ResourceAggregate {
    ResourceAggregate { cpu_millis, ram_mb, disk_mb }
}

#[test]
fn production_jobs_past_the_quota_are_refused_with_auroras_message() {
    // Aurora's default: a role without a quota runs no production job at all.
    let mut strict = ClusterState::new(StateConfig::new("devcluster"));
    assert_eq!(
        strict.create_job(production("early", 1), 0).unwrap_err().to_string(),
        "Insufficient resource quota: role www-data has no quota for production jobs; an operator gives it one with \
         `atoll quota set devcluster/www-data CPU RAM DISK`"
    );
    let _ = strict.create_job(job("batch", 1, false), 0).expect("non-production jobs need no quota");

    let mut state = ClusterState::new(config());
    let _ = state.create_job(production("free", 4), 0).expect("no quota needed: not limited");
    let _ = state.kill(&production("free", 1).key, None, 1).unwrap();
    let set = state.set_quota("www-data", aggregate(2000, 128, 1000));
    assert_eq!(set.changes.quotas_put, vec![("www-data".to_owned(), aggregate(2000, 128, 1000))]);

    let _ = state.create_job(production("fits", 2), 2).expect("exactly the quota");
    let refused = state.create_job(production("over", 2), 3).unwrap_err();
    assert_eq!(
        refused.to_string(),
        "Insufficient resource quota: CPU quota exceeded by 2.00 core(s); RAM quota exceeded by 128.00 MB"
    );
    assert!(state.job(&production("over", 1).key).is_none(), "nothing of a refused job is kept");

    let _ = state.create_job(job("batch", 3, false), 4).expect("non-production jobs do not count");
    let mut dedicated = production("db", 1);
    dedicated.config.constraints = vec![Constraint::parse("dedicated", "www-data/db").unwrap()];
    let _ = state.create_job(dedicated, 5).expect("dedicated production jobs do not count");
}

#[test]
fn usage_counts_active_tasks_by_kind() {
    let mut state = ClusterState::new(config());
    let _ = state.set_quota("www-data", aggregate(10_000, 10_000, 10_000));
    let _ = state.create_job(production("web", 2), 0).unwrap();
    let _ = state.create_job(job("batch", 1, false), 0).unwrap();
    let mut dedicated = job("db", 1, true);
    dedicated.config.constraints = vec![Constraint::parse("dedicated", "www-data/db").unwrap()];
    let _ = state.create_job(dedicated, 0).unwrap();
    let _ = state.kill(&production("web", 1).key, Some(&BTreeSet::from([1])), 1).unwrap();

    let usage = state.quota("www-data");
    assert_eq!(usage.quota, Some(aggregate(10_000, 10_000, 10_000)));
    assert_eq!(usage.production, aggregate(1000, 64, 64), "the killed instance no longer counts");
    assert_eq!(usage.non_production, aggregate(1000, 64, 64));
    assert_eq!(usage.dedicated, aggregate(1000, 64, 64));
    assert_eq!(state.quota("nobody").quota, None);
}

#[test]
fn added_instances_count_against_the_quota() {
    let mut state = ClusterState::new(config());
    let _ = state.set_quota("www-data", aggregate(2500, 1000, 1000));
    let key = production("web", 1).key;
    let _ = state.create_job(production("web", 2), 0).unwrap();
    let refused = state.add_instances(&key, 0, 1, 1).unwrap_err();
    assert_eq!(refused.to_string(), "Insufficient resource quota: CPU quota exceeded by 0.50 core(s)");
    assert_eq!(state.job(&key).unwrap().instances, 2);
}
