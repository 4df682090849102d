package zfsdriver

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
)

// Pool is one row of `zpool list`.
type Pool struct {
	Name   string
	Size   uint64 // exact with kernel OpenZFS; rounded (3 digits) on zfs-fuse
	Alloc  uint64
	Free   uint64
	Health string // ONLINE, DEGRADED, FAULTED, ...
}

// PoolCreateOptions are the options of PoolCreate.
type PoolCreateOptions struct {
	Properties   map[string]string // -o pool properties (e.g. cachefile=none)
	FSProperties map[string]string // -O properties of the root dataset
	Mountpoint   string            // -m; "" = default /NAME
	Force        bool              // -f
}

// PoolCreate creates a pool on the given vdevs (absolute paths of files or
// block devices; no vdev-type keywords).
func (d *Driver) PoolCreate(ctx context.Context, name string, vdevs []string, opts PoolCreateOptions) error {
	if err := ValidatePool(name); err != nil {
		return refuse("pool create", name, err)
	}
	if len(vdevs) == 0 {
		return refuse("pool create", name, fmt.Errorf("no vdevs given: %w", ErrInvalidName))
	}
	for _, v := range vdevs {
		if !filepath.IsAbs(v) || strings.ContainsAny(v, "\x00\n") {
			return refuse("pool create", name, fmt.Errorf("vdev %q: must be an absolute path: %w", v, ErrInvalidName))
		}
	}
	args := []string{"create"}
	if opts.Force {
		args = append(args, "-f")
	}
	if opts.Mountpoint != "" {
		if !filepath.IsAbs(opts.Mountpoint) && opts.Mountpoint != "none" && opts.Mountpoint != "legacy" {
			return refuse("pool create", name, fmt.Errorf("mountpoint %q: must be absolute, none or legacy: %w", opts.Mountpoint, ErrInvalidProperty))
		}
		args = append(args, "-m", opts.Mountpoint)
	}
	poolProps, err := propertyArgs("-o", opts.Properties)
	if err != nil {
		return refuse("pool create", name, err)
	}
	fsProps, err := propertyArgs("-O", opts.FSProperties)
	if err != nil {
		return refuse("pool create", name, err)
	}
	args = append(append(append(append(args, poolProps...), fsProps...), name), vdevs...)
	_, err = d.run(ctx, command{op: "pool create", name: name, pool: true, args: args, mounts: true})
	return err
}

// PoolDestroy destroys a pool; force (-f) unmounts busy datasets.
func (d *Driver) PoolDestroy(ctx context.Context, name string, force bool) error {
	if err := ValidatePool(name); err != nil {
		return refuse("pool destroy", name, err)
	}
	args := []string{"destroy"}
	if force {
		args = append(args, "-f")
	}
	_, err := d.run(ctx, command{op: "pool destroy", name: name, pool: true, args: append(args, name), retry: true, mounts: true})
	return err
}

// Pools lists the imported pools; names given restrict the list (a missing
// one is ErrNotFound).
func (d *Driver) Pools(ctx context.Context, names ...string) ([]Pool, error) {
	for _, n := range names {
		if err := ValidatePool(n); err != nil {
			return nil, refuse("pool list", n, err)
		}
	}
	args := []string{"list", "-H"}
	if d.caps.ParsableList {
		args = append(args, "-p")
	}
	args = append(args, "-o", "name,size,allocated,free,health")
	out, err := d.run(ctx, command{op: "pool list", name: strings.Join(names, " "), pool: true, args: append(args, names...)})
	if err != nil {
		return nil, err
	}
	return parsePools(out, d.caps.ParsableList)
}

// PoolExists reports whether a pool of that name is imported.
func (d *Driver) PoolExists(ctx context.Context, name string) (bool, error) {
	_, err := d.Pools(ctx, name)
	switch {
	case err == nil:
		return true, nil
	case IsNotFound(err):
		return false, nil
	}
	return false, err
}

// parsePools parses `zpool list -H [-p] -o name,size,allocated,free,health`.
func parsePools(out []byte, exact bool) ([]Pool, error) {
	size := parseSize
	if !exact {
		size = parseHumanSize
	}
	var pools []Pool
	for _, l := range splitLines(out) {
		f, err := fields(l, 5)
		if err != nil {
			return nil, err
		}
		p := Pool{Name: f[0], Health: f[4]}
		for i, dst := range []*uint64{&p.Size, &p.Alloc, &p.Free} {
			if *dst, err = size(f[i+1]); err != nil {
				return nil, fmt.Errorf("pool %q: %w", p.Name, err)
			}
		}
		pools = append(pools, p)
	}
	return pools, nil
}
