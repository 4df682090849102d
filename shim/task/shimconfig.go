package task

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	runtimeoptions "github.com/containerd/containerd/api/types/runtimeoptions/v1"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"github.com/containerd/typeurl/v2"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/zfslxc/zfslxc/lxcrun"
	"github.com/zfslxc/zfslxc/shim/config"
)

// loadConfig reads the shim's configuration for a task whose runtime
// options are opts: CRI and `ctr run --runtime-config-path` send a
// runtimeoptions.Options whose ConfigPath names the file; a CRI runtime
// entry whose options table has no ConfigPath sends the table itself, as
// TOML, in ConfigBody.
func loadConfig(ctx context.Context, opts *anypb.Any) (config.Config, error) {
	optPath := ""
	if opts != nil && len(opts.GetValue()) > 0 {
		v, err := typeurl.UnmarshalAny(opts)
		if err != nil {
			return config.Config{}, fmt.Errorf("runtime options (%s): %w: %w", opts.GetTypeUrl(), err, errdefs.ErrInvalidArgument)
		}
		switch o := v.(type) {
		case *runtimeoptions.Options:
			if o.ConfigPath == "" && len(o.ConfigBody) > 0 {
				cfg, err := config.Parse("runtime options", o.ConfigBody)
				if err != nil {
					return cfg, err
				}
				log.G(ctx).WithFields(log.Fields{"config": "runtime options", "state_dir": cfg.StateDir, "init": cfg.Init}).Debug("shim config")
				return cfg, nil
			}
			optPath = o.ConfigPath
		default:
			return config.Config{}, fmt.Errorf("runtime options of type %T: want %s (ConfigPath): %w",
				v, "containerd.runtime.v1.Options", errdefs.ErrInvalidArgument)
		}
	}
	path, named := config.Path(optPath)
	cfg, err := config.Load(path, named)
	if err != nil {
		return cfg, err
	}
	log.G(ctx).WithFields(log.Fields{"config": path, "state_dir": cfg.StateDir, "init": cfg.Init}).Debug("shim config")
	return cfg, nil
}

// prepareStateDir returns the LXC state directory of a new task: the
// bundle's own, or one under the configured state_dir, linked from
// <bundle>/lxc so `shim delete` (which only knows the bundle) finds it.
// A stale directory left by an earlier task of the same id is cleaned.
func prepareStateDir(ctx context.Context, cfg config.Config, bundle, namespace, id string) (string, error) {
	link := filepath.Join(bundle, StateDirName)
	dir := cfg.StateDirFor(bundle, namespace, id)
	if dir == link {
		return dir, nil
	}
	if _, err := os.Stat(dir); err == nil {
		log.G(ctx).WithField("dir", dir).Warn("stale LXC state directory of an earlier task: cleaning it")
		if _, err := lxcrun.Cleanup(ctx, dir); err != nil {
			return "", fmt.Errorf("stale state directory %s: %w", dir, err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return "", fmt.Errorf("state_dir: %w", err)
	}
	if err := os.Symlink(dir, link); err != nil {
		return "", fmt.Errorf("linking the state directory into the bundle: %w", err)
	}
	return dir, nil
}

// stateDirOf resolves <bundle>/lxc (a directory, or a link to one under
// state_dir). The link itself is returned too, to be removed after.
func stateDirOf(bundle string) (dir, link string) {
	link = filepath.Join(bundle, StateDirName)
	fi, err := os.Lstat(link)
	if err != nil || fi.Mode()&os.ModeSymlink == 0 {
		return link, ""
	}
	target, err := os.Readlink(link)
	if err != nil {
		return link, link
	}
	return target, link
}

// removeStateLink removes <bundle>/lxc when it is a link.
func removeStateLink(link string) error {
	if link == "" {
		return nil
	}
	if err := os.Remove(link); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
