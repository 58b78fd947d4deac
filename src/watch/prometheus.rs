//! The Prometheus text format read back, for `cefrelay top`. The relay's own exporter writes a
//! plain subset of it (`name{label="value",…} number`, `#` comments), so a small reader does,
//! rather than a crate for the whole format (histograms, exemplars, OpenMetrics) that top needs
//! none of. A line it cannot read is skipped: a metric missing from the view, not a failed view.

/// One sample: a metric's name, its labels, its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    /// The value of label `name`, "" when it has none.
    pub fn label(&self, name: &str) -> &str {
        self.labels
            .iter()
            .find(|(key, _)| key == name)
            .map_or("", |(_, value)| value)
    }
}

pub fn parse(text: &str) -> Vec<Sample> {
    text.lines().filter_map(sample).collect()
}

fn sample(line: &str) -> Option<Sample> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line.find(['{', ' '])?;
    let (name, mut rest) = line.split_at(name_end);
    if name.is_empty() {
        return None;
    }
    let mut labels = Vec::new();
    if let Some(inside) = rest.strip_prefix('{') {
        rest = inside;
        loop {
            rest = rest.trim_start_matches([',', ' ']);
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let (key, after) = rest.split_once("=\"")?;
            let (value, after) = quoted(after)?;
            labels.push((key.trim().to_string(), value));
            rest = after;
        }
    }
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// A label value up to its closing quote, unescaped (`\\`, `\"`, `\n`), and the text after it.
fn quoted(text: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return Some((value, &text[at + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => value.push('\n'),
                other => value.push(other),
            },
            other => value.push(other),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_read_with_their_labels_and_comments_are_skipped() {
        let samples = parse(
            "# HELP cefrelay_filter_total x\n# TYPE cefrelay_filter_total counter\n\
             cefrelay_filter_total{action=\"drop\",reason=\"traffic\"} 12\n\
             process_cpu_seconds_total 0.05\n\
             cefrelay_sink_oldest_event_age_seconds{sink=\"agent\"} 1.500\n",
        );
        assert_eq!(samples.len(), 3);
        assert_eq!(samples[0].name, "cefrelay_filter_total");
        assert_eq!(samples[0].label("reason"), "traffic");
        assert_eq!(samples[0].label("action"), "drop");
        assert_eq!(samples[0].value, 12.0);
        assert!(samples[1].labels.is_empty());
        assert_eq!(samples[2].value, 1.5);
    }

    #[test]
    fn escaped_label_values_are_unescaped() {
        let samples = parse(r#"m{listener="a\"b\\c\nd, e}",x="y"} 3 1700000000"#);
        assert_eq!(samples[0].label("listener"), "a\"b\\c\nd, e}");
        assert_eq!(samples[0].label("x"), "y");
        assert_eq!(samples[0].value, 3.0);
    }

    #[test]
    fn lines_that_cannot_be_read_are_skipped() {
        for line in [
            "m{a=\"unterminated} 1",
            "m{a} 1",
            "m notanumber",
            "m",
            "{} 1",
        ] {
            assert_eq!(parse(line), vec![], "{line}");
        }
    }
}
