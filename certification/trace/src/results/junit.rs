//! JUnit XML test results, as cargo-nextest writes them (`[profile.<p>.junit]`).
//!
//! nextest writes one `<testsuite>` per test binary, named by its binary ID, and one
//! `<testcase>` per test that ran, named by its path in the binary. A `<failure>` or
//! `<error>` child means failed (a timeout is a failure), `<skipped>` means skipped, and a
//! test retried to success carries `<flakyFailure>` children and counts as passed (the
//! flakiness is kept). Ignored tests are not listed at all; the trace reports them from the
//! `#[ignore]` attribute it sees in the source.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, read_text};
use crate::source::TestName;

/// How one test ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It ran and passed.
    Passed,
    /// It ran and failed (or timed out, or crashed).
    Failed,
    /// The runner skipped it.
    Skipped,
}

/// One test's result.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TestCase {
    /// Its name.
    pub test: TestName,
    /// How it ended.
    pub outcome: Outcome,
    /// Seconds it took, when recorded.
    pub seconds: Option<f64>,
    /// Whether it failed before passing on a retry.
    pub flaky: bool,
    /// The failure message (first line, at most 300 characters).
    pub message: Option<String>,
}

/// The results in one file, by test.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JunitResults {
    /// Each test's result.
    pub cases: BTreeMap<TestName, TestCase>,
}

impl JunitResults {
    /// Parses a JUnit file.
    pub fn load(path: &Path) -> Result<JunitResults, Error> {
        let text = read_text(path)?;
        Self::parse(&text).map_err(|message| Error::Xml { path: path.to_path_buf(), message })
    }

    /// Parses JUnit XML text.
    pub fn parse(text: &str) -> Result<JunitResults, String> {
        let document = roxmltree::Document::parse(text).map_err(|error| format!("not well-formed XML: {error}"))?;
        let mut cases = BTreeMap::new();
        for suite in document.descendants().filter(|node| node.has_tag_name("testsuite")) {
            let suite_name = suite.attribute("name").unwrap_or_default();
            for case in suite.children().filter(|node| node.has_tag_name("testcase")) {
                let name = case.attribute("name").unwrap_or_default().to_owned();
                let binary_id =
                    case.attribute("classname").filter(|class| !class.is_empty()).unwrap_or(suite_name).to_owned();
                let child = |tag: &str| case.children().find(|node| node.has_tag_name(tag));
                let failure = child("failure").or_else(|| child("error"));
                let outcome = if failure.is_some() {
                    Outcome::Failed
                } else if child("skipped").is_some() {
                    Outcome::Skipped
                } else {
                    Outcome::Passed
                };
                let message = failure.map(|node| {
                    let text = node.attribute("message").or_else(|| node.text()).unwrap_or("failed");
                    text.lines().next().unwrap_or_default().chars().take(300).collect()
                });
                let flaky =
                    case.children().any(|node| node.has_tag_name("flakyFailure") || node.has_tag_name("flakyError"));
                let test = TestName { binary_id, name };
                let seconds = case.attribute("time").and_then(|time| time.parse().ok());
                cases.insert(test.clone(), TestCase { test, outcome, seconds, flaky, message });
            }
        }
        Ok(JunitResults { cases })
    }

    /// Counts of (passed, failed, skipped).
    pub fn counts(&self) -> (usize, usize, usize) {
        let count = |outcome| self.cases.values().filter(|case| case.outcome == outcome).count();
        (count(Outcome::Passed), count(Outcome::Failed), count(Outcome::Skipped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEXTEST: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="nextest-run" tests="4" failures="1" errors="0">
    <testsuite name="demo" tests="2" failures="1">
        <testcase name="tests::passes" classname="demo" time="0.019"/>
        <testcase name="tests::fails" classname="demo" time="0.333">
            <failure message="thread &apos;tests::fails&apos; panicked at src/lib.rs:5:26" type="test failure">long
text</failure>
            <system-out>output</system-out>
        </testcase>
    </testsuite>
    <testsuite name="demo::integ" tests="3">
        <testcase name="inner::nested" classname="demo::integ" time="0.025"/>
        <testcase name="retried" classname="demo::integ"><flakyFailure message="first try"/></testcase>
        <testcase name="skipped" classname="demo::integ"><skipped/></testcase>
    </testsuite>
</testsuites>"#;

    fn name(binary_id: &str, test: &str) -> TestName {
        TestName { binary_id: binary_id.to_owned(), name: test.to_owned() }
    }

    #[test]
    fn nextest_junit_reads_outcomes_by_binary_id_and_test_path() {
        let results = JunitResults::parse(NEXTEST).unwrap();
        assert_eq!(results.counts(), (3, 1, 1));
        let failed = &results.cases[&name("demo", "tests::fails")];
        assert_eq!(failed.outcome, Outcome::Failed);
        assert_eq!(failed.message.as_deref(), Some("thread 'tests::fails' panicked at src/lib.rs:5:26"));
        assert_eq!(results.cases[&name("demo::integ", "inner::nested")].seconds, Some(0.025));
        let retried = &results.cases[&name("demo::integ", "retried")];
        assert!(retried.flaky && retried.outcome == Outcome::Passed);
        assert_eq!(results.cases[&name("demo::integ", "skipped")].outcome, Outcome::Skipped);
    }

    #[test]
    fn malformed_xml_is_an_error() {
        assert!(JunitResults::parse("<testsuites><testsuite>").unwrap_err().contains("not well-formed"));
    }
}
