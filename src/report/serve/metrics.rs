//! The board in the Prometheus text format (OpenMetrics), with
//! prometheus-client: what Prometheus scrapes from `/metrics`.

use super::{Board, Cell};

/// The board in the Prometheus (OpenMetrics) text format.
pub fn metrics(board: &Board) -> String {
    use prometheus_client::encoding::EncodeLabelSet;
    use prometheus_client::metrics::family::Family;
    use prometheus_client::metrics::gauge::Gauge;
    use prometheus_client::registry::Registry;
    use std::sync::atomic::AtomicU64;

    #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
    struct HostLabel {
        host: String,
    }
    #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
    struct ScenarioLabel {
        host: String,
        feature: String,
        scenario: String,
        id: String,
    }
    #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
    struct CommitLabel {
        host: String,
        commit: String,
    }
    type FloatGauge = Gauge<f64, AtomicU64>;

    let mut registry = Registry::with_prefix("redgreen");
    let passed = Family::<ScenarioLabel, Gauge>::default();
    let waived = Family::<ScenarioLabel, Gauge>::default();
    let healthy = Family::<HostLabel, Gauge>::default();
    let unreachable = Family::<HostLabel, Gauge>::default();
    let drifted = Family::<HostLabel, Gauge>::default();
    let converged_at = Family::<HostLabel, Gauge>::default();
    let commit = Family::<CommitLabel, Gauge>::default();
    let host_seconds = Family::<HostLabel, FloatGauge>::default();
    let round_seconds = FloatGauge::default();
    let round = Gauge::<i64>::default();
    registry.register(
        "scenario_passed",
        "1 when the scenario passed on the host in the last round, else 0",
        passed.clone(),
    );
    registry.register(
        "scenario_waived",
        "1 when the scenario failed on the host but a waiver (waivers.yml) accepts it",
        waived.clone(),
    );
    registry.register(
        "host_healthy",
        "1 when the host was reached and no scenario failed (waived ones aside)",
        healthy.clone(),
    );
    registry.register(
        "host_unreachable",
        "1 when the host could not be reached in the last round",
        unreachable.clone(),
    );
    registry.register(
        "host_drifted_resources",
        "Resources a converge would change now (plan)",
        drifted.clone(),
    );
    registry.register(
        "host_last_converge_timestamp_seconds",
        "When the host was last converged (its ledger), as a Unix time",
        converged_at.clone(),
    );
    registry.register(
        "host_commit",
        "1 for the commit the host was last converged at (its ledger)",
        commit.clone(),
    );
    registry.register(
        "host_round_duration_seconds",
        "How long the host's part of the last round took",
        host_seconds.clone(),
    );
    registry.register(
        "round_duration_seconds",
        "How long the last round took",
        round_seconds.clone(),
    );
    registry.register("round", "The number of the last round", round.clone());

    round.set(board.round as i64);
    round_seconds.set(board.seconds);
    for host in &board.hosts {
        let label = HostLabel {
            host: host.host.clone(),
        };
        healthy.get_or_create(&label).set(host.healthy() as i64);
        unreachable
            .get_or_create(&label)
            .set(host.unreachable.is_some() as i64);
        drifted.get_or_create(&label).set(host.drift.len() as i64);
        host_seconds.get_or_create(&label).set(host.seconds);
        if let Some(ledger) = &host.ledger {
            if let Ok(at) = humantime::parse_rfc3339(&ledger.converged_at) {
                let seconds = at
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                converged_at.get_or_create(&label).set(seconds as i64);
            }
            commit
                .get_or_create(&CommitLabel {
                    host: host.host.clone(),
                    commit: ledger.commit.clone().unwrap_or_default(),
                })
                .set(1);
        }
        for scenario in &host.scenarios {
            let label = ScenarioLabel {
                host: host.host.clone(),
                feature: scenario.feature.clone(),
                scenario: scenario.scenario.clone(),
                id: scenario.id.clone(),
            };
            passed
                .get_or_create(&label)
                .set((scenario.status == Cell::Passed) as i64);
            waived
                .get_or_create(&label)
                .set((scenario.status == Cell::Waived) as i64);
        }
    }
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)
        .expect("writing to a String cannot fail");
    crate::secrets::redact(&text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::super::testing::board;
    use super::*;

    #[test]
    fn metrics_say_passed_waived_and_healthy_per_host() {
        let text = metrics(&board());
        assert!(
            text.contains("redgreen_host_healthy{host=\"web3\"} 0"),
            "{text}"
        );
        assert!(text.contains("redgreen_host_healthy{host=\"web2\"} 1"));
        assert!(text.contains("redgreen_scenario_waived{host=\"web2\",feature=\"web\",scenario=\"it <answers>\",id=\"features/web.feature:2\"} 1"), "{text}");
        assert!(
            text.contains(
                "redgreen_host_last_converge_timestamp_seconds{host=\"web1\"} 1795676400"
            )
        );
        assert!(text.ends_with("# EOF\n"));
    }
}
