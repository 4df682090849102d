package task

import (
	"context"
	"strings"
	"testing"

	taskapi "github.com/containerd/containerd/api/runtime/task/v2"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"
)

// TestUpdateRefusals: what Update refuses before it touches a cgroup, with
// the gRPC code containerd passes on (a real update: integration/shim's
// TestUpdate).
func TestUpdateRefusals(t *testing.T) {
	ctx := context.Background()
	s := New(ctx, Config{})
	s.tasks["c1"] = &task{id: "c1"}
	mustAny := func(v any) *anypb.Any {
		a, err := typeurl.MarshalAnyToProto(v)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	limit := int64(1 << 20)
	linux := mustAny(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}})
	for _, tc := range []struct {
		name string
		r    *taskapi.UpdateTaskRequest
		code codes.Code
		msg  string
	}{
		{"unknown task", &taskapi.UpdateTaskRequest{ID: "nope", Resources: linux}, codes.NotFound, "task nope"},
		{"no resources", &taskapi.UpdateTaskRequest{ID: "c1"}, codes.InvalidArgument, "update c1: no resources"},
		{"windows resources", &taskapi.UpdateTaskRequest{ID: "c1", Resources: mustAny(&specs.WindowsResources{})}, codes.InvalidArgument, "want LinuxResources"},
		{"a process", &taskapi.UpdateTaskRequest{ID: "c1", Resources: mustAny(&specs.Process{})}, codes.InvalidArgument, "want LinuxResources"},
		{"unknown type", &taskapi.UpdateTaskRequest{ID: "c1", Resources: &anypb.Any{TypeUrl: "example.com/nope", Value: []byte("x")}}, codes.InvalidArgument, "update c1: resources"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Update(ctx, tc.r)
			if status.Code(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Update: %v (code %v), want %v with %q", err, status.Code(err), tc.code, tc.msg)
			}
			if tc.code == codes.InvalidArgument && !errdefs.IsInvalidArgument(errgrpc.ToNative(err)) {
				t.Errorf("error %v is not InvalidArgument on containerd's side", err)
			}
		})
	}
}
