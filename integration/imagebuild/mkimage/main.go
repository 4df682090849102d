// Command mkimage writes the project's test image, built from Debian's
// busybox-static, as an OCI image layout tarball that `ctr images import`
// takes. There is no registry here: `make demo` and manual tests use it.
//
//	go run ./integration/imagebuild/mkimage -o /tmp/demo.tar -name docker.io/zfslxc/demo:latest
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/zfslxc/zfslxc/integration/imagebuild"
)

func main() {
	out := flag.String("o", "", "output file (required)")
	name := flag.String("name", imagebuild.DefaultTestImageName, "image name the import gives it")
	busybox := flag.String("busybox", imagebuild.DefaultBusyboxPath, "static busybox binary (apt-get install busybox-static)")
	cmd := flag.String("cmd", "", "shell command the image runs (default: cat /data/keep.txt)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: mkimage -o FILE [-name NAME] [-cmd 'SHELL COMMAND']\n\n"+
			"Writes a 3-layer OCI image (busybox, a data layer, a layer with whiteouts)\n"+
			"with ENTRYPOINT [\"/bin/sh\",\"-c\"] as an OCI layout tarball.\n\nFlags:\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *out == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	img, err := imagebuild.MultiLayerTestImage(*name, *busybox)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
	if strings.TrimSpace(*cmd) != "" {
		img.Config.Cmd = []string{*cmd}
	}
	desc, err := img.WriteLayoutFile(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
	fmt.Printf("%s %s %s\n", *out, img.Ref(), desc.Digest)
}
