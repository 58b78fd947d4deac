//! `[enrich]`: what the relay adds to events. `threat` (on by default) classifies PAN-OS THREAT
//! logs: their alert type and MITRE ATT&CK technique, from the built-in table or `mitre_table`.

use std::sync::Arc;

use cefrelay_panos::mitre::Table;

use super::raw::RawEnrich;
use super::validate::Validator;
use super::ConfigError;

#[derive(Debug, Clone)]
pub struct Enrich {
    /// The MITRE table threats are classified by; `None` with `threat = false`.
    pub threat: Option<Arc<Table>>,
}

/// `[enrich]`, validated: an override table is read and checked now, line by line.
pub fn validate(check: &Validator<'_>, raw: &RawEnrich) -> Result<Enrich, ConfigError> {
    if raw.threat == Some(false) {
        return Ok(Enrich { threat: None });
    }
    let Some(path) = &raw.mitre_table else {
        return Ok(Enrich {
            threat: Some(Arc::new(Table::builtin())),
        });
    };
    let file = check.beside_file(path.get_ref());
    let refused = |message: String| {
        check.error(
            "enrich.mitre_table".into(),
            Some(path.span()),
            format!("{}: {message}", file.display()),
        )
    };
    let text =
        std::fs::read_to_string(&file).map_err(|e| refused(format!("cannot read it: {e}")))?;
    let table = Table::parse(&text).map_err(|e| refused(e.to_string()))?;
    Ok(Enrich {
        threat: Some(Arc::new(table)),
    })
}
