fn main() { println!("istio-rollout"); }
