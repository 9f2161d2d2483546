//! The ingress counters in Prometheus' text exposition format (version
//! 0.0.4), rendered from plain samples so the format is tested without a
//! socket.

use std::fmt::Write;

use shoal_proto::{service::Protocol, wire::PortMetrics};

use super::counters::LimitMetrics;

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One published port as the exporter sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    pub published: u16,
    pub protocol: Protocol,
    pub service: String,
    pub listening: bool,
    pub backends: usize,
    pub metrics: PortMetrics,
    pub limits: LimitMetrics,
}

struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    value: fn(&Sample) -> u64,
}

const FAMILIES: &[Family] = &[
    Family {
        name: "shoal_ingress_connections_total",
        kind: "counter",
        help: "Client connections accepted on the published port.",
        value: |s| s.metrics.connections,
    },
    Family {
        name: "shoal_ingress_active_connections",
        kind: "gauge",
        help: "Client connections open now.",
        value: |s| s.metrics.active,
    },
    Family {
        name: "shoal_ingress_received_bytes_total",
        kind: "counter",
        help: "Bytes received from clients and forwarded to backends.",
        value: |s| s.metrics.bytes_in,
    },
    Family {
        name: "shoal_ingress_sent_bytes_total",
        kind: "counter",
        help: "Bytes received from backends and forwarded to clients.",
        value: |s| s.metrics.bytes_out,
    },
    Family {
        name: "shoal_ingress_errors_total",
        kind: "counter",
        help: "Client connections closed because no backend took them.",
        value: |s| s.metrics.errors,
    },
    Family {
        name: "shoal_ingress_retries_total",
        kind: "counter",
        help: "Backends that refused or timed out, the connection retried on another.",
        value: |s| s.metrics.retries,
    },
    Family {
        name: "shoal_ingress_refused_connections_total",
        kind: "counter",
        help: "Client connections closed on arrival because the port or the node was at its connection cap.",
        value: |s| s.limits.refused,
    },
    Family {
        name: "shoal_ingress_idle_timeouts_total",
        kind: "counter",
        help: "Proxied connections closed because no byte moved either way for the idle timeout.",
        value: |s| s.limits.idle_timeouts,
    },
    Family {
        name: "shoal_ingress_backends",
        kind: "gauge",
        help: "Backends the port balances across now.",
        value: |s| s.backends as u64,
    },
    Family {
        name: "shoal_ingress_listening",
        kind: "gauge",
        help: "1 if the node listens on the port, 0 if it cannot (see the agent's log).",
        value: |s| u64::from(s.listening),
    },
];

pub fn render(samples: &[Sample]) -> String {
    let mut out = String::new();
    for family in FAMILIES {
        let _ = writeln!(out, "# HELP {} {}", family.name, family.help);
        let _ = writeln!(out, "# TYPE {} {}", family.name, family.kind);
        for sample in samples {
            let protocol = match sample.protocol {
                Protocol::Tcp => "tcp",
                Protocol::Udp => "udp",
            };
            let _ = writeln!(
                out,
                "{}{{port=\"{}\",protocol=\"{protocol}\",service=\"{}\"}} {}",
                family.name,
                sample.published,
                escape(&sample.service),
                (family.value)(sample)
            );
        }
    }
    out
}

/// Label values may hold anything; the format reserves these three.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_port_is_a_labelled_line_in_every_family() {
        let samples = [Sample {
            published: 18080,
            protocol: Protocol::Tcp,
            service: "web".into(),
            listening: true,
            backends: 2,
            metrics: PortMetrics {
                connections: 12,
                active: 1,
                bytes_in: 300,
                bytes_out: 4000,
                errors: 2,
                retries: 3,
            },
            limits: LimitMetrics {
                refused: 5,
                idle_timeouts: 4,
            },
        }];
        let text = render(&samples);
        for line in [
            "# TYPE shoal_ingress_connections_total counter",
            "shoal_ingress_connections_total{port=\"18080\",protocol=\"tcp\",service=\"web\"} 12",
            "shoal_ingress_active_connections{port=\"18080\",protocol=\"tcp\",service=\"web\"} 1",
            "shoal_ingress_received_bytes_total{port=\"18080\",protocol=\"tcp\",service=\"web\"} 300",
            "shoal_ingress_sent_bytes_total{port=\"18080\",protocol=\"tcp\",service=\"web\"} 4000",
            "shoal_ingress_errors_total{port=\"18080\",protocol=\"tcp\",service=\"web\"} 2",
            "shoal_ingress_retries_total{port=\"18080\",protocol=\"tcp\",service=\"web\"} 3",
            "shoal_ingress_refused_connections_total{port=\"18080\",protocol=\"tcp\",service=\"web\"} 5",
            "shoal_ingress_idle_timeouts_total{port=\"18080\",protocol=\"tcp\",service=\"web\"} 4",
            "shoal_ingress_backends{port=\"18080\",protocol=\"tcp\",service=\"web\"} 2",
            "shoal_ingress_listening{port=\"18080\",protocol=\"tcp\",service=\"web\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn no_ports_still_describes_the_families() {
        let text = render(&[]);
        assert!(text.contains("# HELP shoal_ingress_connections_total"));
        assert!(!text.lines().any(|l| !l.starts_with('#')));
    }
}
