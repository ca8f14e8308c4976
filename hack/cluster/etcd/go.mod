// Wrapper module: builds the etcd server binary from go.etcd.io/etcd/server/v3.
// Keep the version in line with ../versions.env.
module istio-rollout.local/hack/cluster/etcd

go 1.24.0

require go.etcd.io/etcd/server/v3 v3.6.16
