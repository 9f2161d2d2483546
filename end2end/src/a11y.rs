//! The accessibility check every page passes in the browser tests: axe-core,
//! the engine behind most accessibility audits, run inside the page. Its
//! script comes from the `axe-core-python` package on PyPI (installed by
//! `scripts/setup.sh --with-browser`), so nothing is fetched at test time.

use std::{path::PathBuf, process::Command, sync::OnceLock};

use crate::Browser;

/// Impacts that fail a page; axe also reports `moderate` and `minor` ones.
const FAILING_IMPACTS: [&str; 2] = ["serious", "critical"];

/// `axe.min.js`: from `SHOAL_AXE_JS` when set, else from the Python package.
fn axe_script() -> &'static str {
    static SCRIPT: OnceLock<String> = OnceLock::new();
    SCRIPT.get_or_init(|| {
        let path = std::env::var_os("SHOAL_AXE_JS")
            .map(PathBuf::from)
            .unwrap_or_else(python_package_script);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    })
}

fn python_package_script() -> PathBuf {
    let output = Command::new("python3")
        .args([
            "-c",
            "import axe_core_python, os; print(os.path.dirname(axe_core_python.__file__))",
        ])
        .output()
        .expect("run python3");
    assert!(
        output.status.success(),
        "axe-core is missing: `pip install axe-core-python==0.1.0` \
         (scripts/setup.sh --with-browser does): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()).join("axe.min.js")
}

impl Browser {
    /// The serious and critical accessibility findings on the page as it is
    /// now, each as `rule: what to fix — where`.
    pub async fn accessibility_findings(&self) -> Vec<String> {
        let failing = serde_json::to_string(&FAILING_IMPACTS).expect("a string array");
        // The script is sent whole rather than eval'd, so a page's content
        // security policy cannot stop it.
        let script = format!(
            "{axe}\n;const done = arguments[arguments.length - 1];
            const failing = {failing};
            axe.run(document, {{ resultTypes: ['violations'] }})
              .then(result => done(result.violations
                .filter(v => failing.includes(v.impact))
                .map(v => `${{v.id}} (${{v.impact}}): ${{v.help}} — ${{v.nodes.slice(0, 3)
                  .map(n => n.target.join(' ')).join(', ')}}`)))
              .catch(error => done([`axe did not run: ${{error}}`]));",
            axe = axe_script(),
        );
        let found = self.eval_async(&script).await;
        found
            .as_array()
            .into_iter()
            .flatten()
            .map(|finding| finding.as_str().unwrap_or_default().to_owned())
            .collect()
    }
}
