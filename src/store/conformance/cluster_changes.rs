//! [`ClusterChanges`](crate::store::ClusterChanges): one generation per change, none lost, across
//! replicas.

use super::Backend;

conformance!(cluster_changes_count_up_once_per_change_across_instances,);

/// Reloads and purges recorded by two replicas at once each get a generation of their own, and
/// every replica reads the latest of each kind.
async fn cluster_changes_count_up_once_per_change_across_instances(backend: &Backend) {
    let (one, two) = (backend.open().await, backend.open().await);
    assert!(one.cluster_changes().await.unwrap().is_empty());
    assert_eq!(one.record_cluster_change("reload").await.unwrap(), 1);
    assert_eq!(two.record_cluster_change("reload").await.unwrap(), 2);
    assert_eq!(two.record_cluster_change("cache_purge").await.unwrap(), 1);
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..20 {
        let store = if n % 2 == 0 { one.clone() } else { two.clone() };
        tasks.spawn(async move { store.record_cluster_change("cache_purge").await.unwrap() });
    }
    let mut generations = Vec::new();
    while let Some(generation) = tasks.join_next().await {
        generations.push(generation.unwrap());
    }
    generations.sort_unstable();
    assert_eq!(
        generations,
        (2..=21).collect::<Vec<i64>>(),
        "one each, none lost"
    );
    let latest = vec![("cache_purge".to_owned(), 21), ("reload".to_owned(), 2)];
    assert_eq!(one.cluster_changes().await.unwrap(), latest);
    assert_eq!(two.cluster_changes().await.unwrap(), latest);
}
