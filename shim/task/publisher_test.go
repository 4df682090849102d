package task

import (
	"context"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	eventstypes "github.com/containerd/containerd/api/events"
	eventsapi "github.com/containerd/containerd/api/services/ttrpc/events/v1"
	"github.com/containerd/ttrpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// eventSink is a fake containerd ttrpc events service.
type eventSink struct {
	mu     sync.Mutex
	topics []string
	got    chan struct{}
}

func (e *eventSink) Forward(ctx context.Context, r *eventsapi.ForwardRequest) (*emptypb.Empty, error) {
	e.mu.Lock()
	e.topics = append(e.topics, r.Envelope.Topic)
	e.mu.Unlock()
	e.got <- struct{}{}
	return &emptypb.Empty{}, nil
}

func serveEvents(t *testing.T, path string) *eventSink {
	t.Helper()
	srv, err := ttrpc.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	sink := &eventSink{got: make(chan struct{}, 16)}
	eventsapi.RegisterTTRPCEventsService(srv, sink)
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(context.Background(), l) //nolint:errcheck // ends with Close
	t.Cleanup(func() { srv.Close() })
	return sink
}

// TestPublisherOutlivesRestart: events published while containerd's
// socket is missing are delivered, in order, once it is back.
func TestPublisherOutlivesRestart(t *testing.T) {
	ctx := context.Background()
	sock := filepath.Join(t.TempDir(), "containerd.sock.ttrpc")
	p := NewPublisher(ctx, "unix://"+sock, "ns")
	topics := []string{"/tasks/exit", "/tasks/delete", "/tasks/exit"}
	for _, tp := range topics {
		p.Publish(ctx, tp, &eventstypes.TaskExit{ContainerID: "c"})
	}
	time.Sleep(700 * time.Millisecond) // several failed attempts
	sink := serveEvents(t, sock)
	for range topics {
		select {
		case <-sink.got:
		case <-time.After(30 * time.Second):
			t.Fatal("events not delivered after the socket came back")
		}
	}
	p.Close()
	sink.mu.Lock()
	defer sink.mu.Unlock()
	for i, tp := range topics {
		if sink.topics[i] != tp {
			t.Fatalf("topics = %v, want %v", sink.topics, topics)
		}
	}
}

// TestPublisherGivesUp: with nobody listening, an event is dropped after
// RetryWindow and Close returns.
func TestPublisherGivesUp(t *testing.T) {
	ctx := context.Background()
	p := NewPublisher(ctx, filepath.Join(t.TempDir(), "missing.sock"), "ns")
	p.RetryWindow = 300 * time.Millisecond
	p.Publish(ctx, "/tasks/exit", &eventstypes.TaskExit{ContainerID: "c"})
	closed := make(chan struct{})
	go func() { p.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("Close hangs with containerd gone")
	}
}

func TestPublisherEmptyAddressDrops(t *testing.T) {
	ctx := context.Background()
	p := NewPublisher(ctx, "", "ns")
	p.Publish(ctx, "/tasks/exit", &eventstypes.TaskExit{ContainerID: "c"})
	p.Close()
	p.Publish(ctx, "/tasks/exit", &eventstypes.TaskExit{ContainerID: "c"}) // after Close: dropped, no panic
}
