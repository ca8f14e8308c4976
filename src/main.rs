fn main() {
    if std::env::args().nth(1).as_deref() == Some("crd") {
        print!("{}", istio_rollout::istio::cr::crd_yaml());
    }
}
