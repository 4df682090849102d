package zfsdriver

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// DatasetType is a zfs dataset type.
type DatasetType string

// Dataset types as zfs prints them.
const (
	Filesystem DatasetType = "filesystem"
	Volume     DatasetType = "volume"
	Snapshot   DatasetType = "snapshot"
)

// Dataset is one row of a listing.
type Dataset struct {
	Name       string
	Type       DatasetType
	Origin     string // snapshot this is a clone of, "" if none
	Mountpoint string // "" for snapshots and volumes; "legacy"/"none" as set
	Mounted    bool
	Used       uint64
	Referenced uint64
	Available  uint64 // 0 for snapshots
}

// Property is one property value and where it comes from.
type Property struct {
	Value  string // "-" when unset
	Source string // "local", "default", "inherited from …", "temporary", "-"
}

// IsSet reports whether the property has a value (a user property that was
// never set reads back as "-" with source "-").
func (p Property) IsSet() bool { return !(p.Value == "-" && p.Source == "-") }

// Usage is the space a dataset takes, from its properties.
type Usage struct {
	Used            uint64 // dataset, its snapshots and children
	Referenced      uint64 // data this dataset can reach
	Available       uint64
	UsedBySnapshots uint64
	Quota           uint64 // 0 = none
	RefQuota        uint64 // 0 = none
}

// CreateOptions are the options of Create.
type CreateOptions struct {
	Properties map[string]string // -o k=v
	Parents    bool              // -p: create missing parents
}

// Create creates a filesystem.
func (d *Driver) Create(ctx context.Context, name string, opts CreateOptions) error {
	if err := ValidateDataset(name); err != nil {
		return refuse("create", name, err)
	}
	args := []string{"create"}
	if opts.Parents {
		args = append(args, "-p")
	}
	props, err := propertyArgs("-o", opts.Properties)
	if err != nil {
		return refuse("create", name, err)
	}
	args = append(append(args, props...), name)
	_, err = d.run(ctx, command{op: "create", name: name, args: args, mounts: true})
	return err
}

// DestroyOptions are the options of Destroy.
type DestroyOptions struct {
	Recursive bool // -r: children and snapshots too (never clones elsewhere)
	Force     bool // -f: force unmount
	Defer     bool // -d: snapshots only, destroy when the last clone or hold goes
	// NoChildFilesystems: with Recursive, the caller knows the dataset has
	// snapshots but no child filesystems, so on zfs-fuse only the dataset
	// itself is unmounted first and no listing is needed (one command less).
	NoChildFilesystems bool
}

// Destroy destroys a filesystem, volume or snapshot. A missing one is
// ErrNotFound; a snapshot with clones is ErrHasDependents; a filesystem with
// children or snapshots (without Recursive) is ErrHasChildren. On zfs-fuse
// the mounted filesystems are unmounted first, leaves before parents, since
// its destroy of a mounted dataset often answers busy.
func (d *Driver) Destroy(ctx context.Context, name string, opts DestroyOptions) error {
	if err := ValidateName(name); err != nil {
		return refuse("destroy", name, err)
	}
	isSnap := strings.Contains(name, "@")
	if opts.Defer && !isSnap {
		return refuse("destroy", name, fmt.Errorf("defer (-d) applies to snapshots only: %w", ErrInvalidName))
	}
	if d.caps.ExplicitUnmount && !isSnap {
		if _, err := d.unmountTree(ctx, name, opts.Recursive && !opts.NoChildFilesystems, opts.Force); err != nil {
			return err
		}
	}
	args := []string{"destroy"}
	if opts.Recursive {
		args = append(args, "-r")
	}
	if opts.Force {
		args = append(args, "-f")
	}
	if opts.Defer {
		args = append(args, "-d")
	}
	args = append(args, name)
	_, err := d.run(ctx, command{op: "destroy", name: name, args: args, retry: true, mounts: true})
	return err
}

// unmountTree unmounts name (and with recursive its descendants, deepest
// first) where mounted, and returns the filesystems it unmounted. A missing
// dataset is left for the command that follows to report.
func (d *Driver) unmountTree(ctx context.Context, name string, recursive, force bool) ([]string, error) {
	ignore := func(err error) bool {
		return err == nil || errors.Is(err, ErrNotMounted) || IsNotFound(err)
	}
	if !recursive {
		// One command: unmounting what is not mounted costs no more than
		// asking first.
		err := d.Unmount(ctx, name, force)
		if !ignore(err) {
			return nil, err
		}
		if err == nil {
			return []string{name}, nil
		}
		return nil, nil
	}
	list, err := d.List(ctx, name, ListOptions{Depth: -1, Types: []DatasetType{Filesystem}})
	if err != nil {
		if IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	slices.SortStableFunc(list, func(a, b Dataset) int { return strings.Count(b.Name, "/") - strings.Count(a.Name, "/") })
	var unmounted []string
	for _, ds := range list {
		if !ds.Mounted {
			continue
		}
		if err := d.Unmount(ctx, ds.Name, force); !ignore(err) {
			return unmounted, err
		}
		unmounted = append(unmounted, ds.Name)
	}
	return unmounted, nil
}

// SnapshotOptions are the options of Snapshot.
type SnapshotOptions struct {
	Properties map[string]string // -o k=v
	Recursive  bool              // -r: same snapshot name on all descendants
}

// Snapshot creates one or more snapshots. Where zfs takes several names in
// one call (OpenZFS) they are created atomically; on zfs-fuse they are
// created one by one and an error names the first that failed (those before
// it exist).
func (d *Driver) Snapshot(ctx context.Context, names []string, opts SnapshotOptions) error {
	if len(names) == 0 {
		return refuse("snapshot", "", fmt.Errorf("no snapshot names given: %w", ErrInvalidName))
	}
	for _, n := range names {
		if err := ValidateSnapshot(n); err != nil {
			return refuse("snapshot", n, err)
		}
	}
	args := []string{"snapshot"}
	if opts.Recursive {
		args = append(args, "-r")
	}
	props, err := propertyArgs("-o", opts.Properties)
	if err != nil {
		return refuse("snapshot", names[0], err)
	}
	args = append(args, props...)
	if d.caps.MultiSnapshot || len(names) == 1 {
		_, err := d.run(ctx, command{op: "snapshot", name: strings.Join(names, " "), args: append(args, names...)})
		return err
	}
	for _, n := range names {
		if _, err := d.run(ctx, command{op: "snapshot", name: n, args: append(slices.Clip(args), n)}); err != nil {
			return err
		}
	}
	return nil
}

// CloneOptions are the options of Clone.
type CloneOptions struct {
	Properties map[string]string // -o k=v
	Parents    bool              // -p
}

// Clone creates target as a writable clone of snapshot. It costs the same
// whatever the size of the snapshot.
func (d *Driver) Clone(ctx context.Context, snapshot, target string, opts CloneOptions) error {
	if err := ValidateSnapshot(snapshot); err != nil {
		return refuse("clone", snapshot, err)
	}
	if err := ValidateDataset(target); err != nil {
		return refuse("clone", target, err)
	}
	args := []string{"clone"}
	if opts.Parents {
		args = append(args, "-p")
	}
	props, err := propertyArgs("-o", opts.Properties)
	if err != nil {
		return refuse("clone", target, err)
	}
	args = append(append(args, props...), snapshot, target)
	_, err = d.run(ctx, command{op: "clone", name: target, args: args, mounts: true})
	return err
}

// RollbackOptions are the options of Rollback.
type RollbackOptions struct {
	DestroyLater bool // -r: destroy snapshots newer than the target
	Force        bool // -f: force unmount (with DestroyLater -R style clones stay)
}

// Rollback rolls the dataset of snapshot back to it.
func (d *Driver) Rollback(ctx context.Context, snapshot string, opts RollbackOptions) error {
	if err := ValidateSnapshot(snapshot); err != nil {
		return refuse("rollback", snapshot, err)
	}
	args := []string{"rollback"}
	if opts.DestroyLater {
		args = append(args, "-r")
	}
	if opts.Force {
		args = append(args, "-f")
	}
	_, err := d.run(ctx, command{op: "rollback", name: snapshot, args: append(args, snapshot), retry: true, mounts: true})
	return err
}

// Promote makes clone independent of its origin snapshot (the origin's
// dataset becomes the clone's dependent instead).
func (d *Driver) Promote(ctx context.Context, clone string) error {
	if err := ValidateDataset(clone); err != nil {
		return refuse("promote", clone, err)
	}
	_, err := d.run(ctx, command{op: "promote", name: clone, args: []string{"promote", clone}, retry: true})
	return err
}

// Rename renames a dataset, or a snapshot within its dataset.
func (d *Driver) Rename(ctx context.Context, from, to string) error {
	if err := ValidateName(from); err != nil {
		return refuse("rename", from, err)
	}
	if err := ValidateName(to); err != nil {
		return refuse("rename", to, err)
	}
	if strings.Contains(from, "@") != strings.Contains(to, "@") {
		return refuse("rename", from, fmt.Errorf("cannot rename %q to %q: a snapshot stays a snapshot: %w", from, to, ErrInvalidName))
	}
	var remount []string
	if d.caps.ExplicitUnmount && !strings.Contains(from, "@") {
		var err error
		if remount, err = d.unmountTree(ctx, from, true, false); err != nil {
			return err
		}
	}
	_, err := d.run(ctx, command{op: "rename", name: from, args: []string{"rename", from, to}, retry: true, mounts: true})
	if err != nil {
		to = from // mount back what we unmounted
	}
	// Parents before children: unmountTree returned leaves first.
	for i := len(remount) - 1; i >= 0; i-- {
		ds := to + strings.TrimPrefix(remount[i], from)
		if merr := d.Mount(ctx, ds); merr != nil && !errors.Is(merr, ErrAlreadyMounted) && err == nil {
			err = merr
		}
	}
	return err
}

// Get reads properties of one dataset or snapshot, with exact numbers.
// Properties not in the answer (never for a valid name) are absent.
func (d *Driver) Get(ctx context.Context, name string, props ...string) (map[string]Property, error) {
	if err := ValidateName(name); err != nil {
		return nil, refuse("get", name, err)
	}
	if len(props) == 0 {
		return nil, refuse("get", name, fmt.Errorf("no properties asked for: %w", ErrInvalidProperty))
	}
	for _, p := range props {
		if err := ValidateProperty(p); err != nil {
			return nil, refuse("get", name, err)
		}
	}
	out, err := d.run(ctx, command{op: "get", name: name,
		args: []string{"get", "-H", "-p", "-o", "property,value,source", strings.Join(props, ","), name}})
	if err != nil {
		return nil, err
	}
	return parseGet(out)
}

// GetProperty reads one property's value ("-" when unset).
func (d *Driver) GetProperty(ctx context.Context, name, prop string) (string, error) {
	m, err := d.Get(ctx, name, prop)
	if err != nil {
		return "", err
	}
	p, ok := m[prop]
	if !ok {
		return "", &Error{Op: "get", Name: name, ExitCode: 0, Kind: ErrInvalidProperty,
			Stderr: fmt.Sprintf("zfs did not report property %q", prop)}
	}
	return p.Value, nil
}

// Set sets properties (native or user) on a dataset or snapshot. With one
// call where zfs takes several (OpenZFS), else one call per property.
func (d *Driver) Set(ctx context.Context, name string, props map[string]string) error {
	if err := ValidateName(name); err != nil {
		return refuse("set", name, err)
	}
	if len(props) == 0 {
		return nil
	}
	kv, err := propertyPairs(props)
	if err != nil {
		return refuse("set", name, err)
	}
	if d.caps.MultiSet || len(kv) == 1 {
		_, err := d.run(ctx, command{op: "set", name: name, args: append(append([]string{"set"}, kv...), name), mounts: remounts(slices.Collect(maps.Keys(props))...)})
		return err
	}
	for _, p := range kv {
		if _, err := d.run(ctx, command{op: "set", name: name, args: []string{"set", p, name}, mounts: remounts(strings.SplitN(p, "=", 2)[0])}); err != nil {
			return err
		}
	}
	return nil
}

// SetAll sets one property on several datasets with one command (`zfs set`
// takes several names on OpenZFS and on zfs-fuse). zfs goes through the
// names in turn: when one fails (a missing dataset is ErrNotFound) the
// others may or may not have been set, so callers retry one by one.
func (d *Driver) SetAll(ctx context.Context, names []string, prop, value string) error {
	if len(names) == 0 {
		return nil
	}
	for _, n := range names {
		if err := ValidateName(n); err != nil {
			return refuse("set", n, err)
		}
	}
	kv, err := propertyPairs(map[string]string{prop: value})
	if err != nil {
		return refuse("set", names[0], err)
	}
	_, err = d.run(ctx, command{op: "set", name: strings.Join(names, " "), args: append([]string{"set", kv[0]}, names...), mounts: remounts(prop)})
	return err
}

// Inherit clears a local property (a user property disappears).
func (d *Driver) Inherit(ctx context.Context, name, prop string) error {
	if err := ValidateName(name); err != nil {
		return refuse("inherit", name, err)
	}
	if err := ValidateProperty(prop); err != nil {
		return refuse("inherit", name, err)
	}
	_, err := d.run(ctx, command{op: "inherit", name: name, args: []string{"inherit", prop, name}, mounts: remounts(prop)})
	return err
}

// ListOptions are the options of List.
type ListOptions struct {
	// Depth: 0 = only the root, n = n levels below it, negative = all.
	Depth int
	// Types to return; empty = filesystems and volumes.
	Types []DatasetType
}

// listProps are the columns List reads, in order.
var listProps = []string{"name", "type", "origin", "mountpoint", "mounted", "used", "referenced", "available"}

// List returns root and its descendants, with exact sizes. Parents come
// before their children.
func (d *Driver) List(ctx context.Context, root string, opts ListOptions) ([]Dataset, error) {
	if err := ValidateDataset(root); err != nil {
		return nil, refuse("list", root, err)
	}
	types := opts.Types
	if len(types) == 0 {
		types = []DatasetType{Filesystem, Volume}
	}
	depth := []string{"-d", strconv.Itoa(opts.Depth)}
	if opts.Depth < 0 {
		depth = []string{"-r"}
	}
	if d.caps.ParsableList {
		args := append([]string{"list", "-H", "-p", "-o", strings.Join(listProps, ","), "-t", joinTypes(types)}, depth...)
		out, err := d.run(ctx, command{op: "list", name: root, args: append(args, root)})
		if err != nil {
			return nil, err
		}
		return parseList(out)
	}
	// Without list -p, one `zfs get -p` over the tree gives exact numbers;
	// zfs-fuse's get has no -t, so filter by the type column.
	args := append([]string{"get", "-H", "-p", "-o", "name,property,value"}, depth...)
	args = append(args, strings.Join(listProps[1:], ","), root)
	out, err := d.run(ctx, command{op: "list", name: root, args: args})
	if err != nil {
		return nil, err
	}
	all, err := parseGetRows(out)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(ds Dataset) bool { return !slices.Contains(types, ds.Type) }), nil
}

// names lists the names of root's descendants of the given types at depth 1.
func (d *Driver) names(ctx context.Context, op, root string, types ...DatasetType) ([]string, error) {
	if err := ValidateDataset(root); err != nil {
		return nil, refuse(op, root, err)
	}
	out, err := d.run(ctx, command{op: op, name: root,
		args: []string{"list", "-H", "-o", "name", "-d", "1", "-t", joinTypes(types), root}})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, l := range splitLines(out) {
		if l != root {
			names = append(names, l)
		}
	}
	return names, nil
}

// Children returns the names of the direct child filesystems and volumes.
func (d *Driver) Children(ctx context.Context, name string) ([]string, error) {
	return d.names(ctx, "children", name, Filesystem, Volume)
}

// Snapshots returns the full names (ds@snap) of a dataset's snapshots,
// oldest first.
func (d *Driver) Snapshots(ctx context.Context, name string) ([]string, error) {
	return d.names(ctx, "snapshots", name, Snapshot)
}

// Exists reports whether a dataset or snapshot exists.
func (d *Driver) Exists(ctx context.Context, name string) (bool, error) {
	if err := ValidateName(name); err != nil {
		return false, refuse("exists", name, err)
	}
	_, err := d.run(ctx, command{op: "exists", name: name, args: []string{"list", "-H", "-o", "name", "-t", "all", name}})
	switch {
	case err == nil:
		return true, nil
	case IsNotFound(err):
		return false, nil
	}
	return false, err
}

// Mount mounts a filesystem at its mountpoint.
func (d *Driver) Mount(ctx context.Context, name string) error {
	if err := ValidateDataset(name); err != nil {
		return refuse("mount", name, err)
	}
	_, err := d.run(ctx, command{op: "mount", name: name, args: []string{"mount", name}, retry: true, mounts: true})
	return err
}

// Unmount unmounts a filesystem; force (-f) even when busy.
func (d *Driver) Unmount(ctx context.Context, name string, force bool) error {
	if err := ValidateDataset(name); err != nil {
		return refuse("unmount", name, err)
	}
	args := []string{"unmount"}
	if force {
		args = append(args, "-f")
	}
	_, err := d.run(ctx, command{op: "unmount", name: name, args: append(args, name), retry: true, mounts: true})
	return err
}

// usageProps are the properties Usage reads, in Usage's field order.
var usageProps = []string{"used", "referenced", "available", "usedbysnapshots", "quota", "refquota"}

// Usage reads the space properties of a dataset.
func (d *Driver) Usage(ctx context.Context, name string) (Usage, error) {
	m, err := d.Get(ctx, name, usageProps...)
	if err != nil {
		return Usage{}, err
	}
	var nums [6]uint64
	for i, p := range usageProps {
		if nums[i], err = parseSize(m[p].Value); err != nil {
			return Usage{}, fmt.Errorf("zfs get %s of %q: %w", p, name, err)
		}
	}
	return Usage{Used: nums[0], Referenced: nums[1], Available: nums[2], UsedBySnapshots: nums[3], Quota: nums[4], RefQuota: nums[5]}, nil
}

// propertyPairs validates props and returns sorted "k=v" strings.
func propertyPairs(props map[string]string) ([]string, error) {
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		if err := ValidateProperty(k); err != nil {
			return nil, err
		}
		if err := ValidatePropertyValue(k, props[k]); err != nil {
			return nil, err
		}
		out = append(out, k+"="+props[k])
	}
	return out, nil
}

// propertyArgs turns props into "flag k=v" arguments (flag "-o", or "-O"
// for the root dataset of a new pool).
func propertyArgs(flag string, props map[string]string) ([]string, error) {
	kv, err := propertyPairs(props)
	if err != nil {
		return nil, err
	}
	args := make([]string, 0, 2*len(kv))
	for _, p := range kv {
		args = append(args, flag, p)
	}
	return args, nil
}

func joinTypes(types []DatasetType) string {
	s := make([]string, len(types))
	for i, t := range types {
		s[i] = string(t)
	}
	return strings.Join(s, ",")
}
