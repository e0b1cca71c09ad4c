// Command etcd is the etcd server at the version that the pinned
// k8s.io/kubernetes release itself depends on (go.etcd.io/etcd/server/v3).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
