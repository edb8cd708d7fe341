mptest::main!();
