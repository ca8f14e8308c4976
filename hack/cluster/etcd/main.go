// Command etcd is the etcd server, built from the Go module proxy: etcd's own main module
// cannot be installed with `go install` because its go.mod has replace directives.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
