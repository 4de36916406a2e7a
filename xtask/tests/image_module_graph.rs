//! The EL2 image's modules import each other without a cycle (issue 10: "no import cycles
//! in hypervisor/image"). Runs with the host unit tests.

use std::path::Path;

use xtask::module_graph;

#[test]
fn image_modules_import_each_other_without_a_cycle() {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("../hypervisor/image/src");
    let graph = module_graph::read(&directory).expect("the image sources are readable");
    assert!(graph.len() > 10, "expected the image's modules, found {:?}", graph.keys().collect::<Vec<_>>());
    if let Some(cycle) = module_graph::find_cycle(&graph) {
        panic!("import cycle in hypervisor/image/src: {}\nwhole graph: {graph:#?}", cycle.join(" -> "));
    }
}
