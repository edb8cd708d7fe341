use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Store {
    items: Vec<String>,
}

#[mptest::shared]
impl Store {
    /// Adds an item.
    pub fn add(&mut self, item: String) -> usize {
        self.items.push(item);
        self.items.len()
    }

    pub fn all(&self) -> Vec<String> {
        self.items.clone()
    }

    pub fn clear(&mut self) {}

    pub fn new() -> Self {
        Store { items: Vec::new() }
    }

    fn private_helper(&self) -> usize {
        self.items.len()
    }
}

fn _uses(proxy: StoreProxy) -> Result<(), mptest::ProxyError> {
    let n: usize = proxy.add("x".into())?;
    let all: Vec<String> = proxy.all()?;
    proxy.clear()?;
    let _ = (n, all, Store::new().private_helper());
    Ok(())
}

mptest::main!();
