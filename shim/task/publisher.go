package task

import (
	"context"
	"net"
	"strings"
	"sync"
	"time"

	eventsapi "github.com/containerd/containerd/api/services/ttrpc/events/v1"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/log"
	"github.com/containerd/ttrpc"
	"github.com/containerd/typeurl/v2"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Publisher sends events to containerd's ttrpc events service
// (TTRPC_ADDRESS), in the order they were published, from one goroutine.
// A failed send is retried a few times (containerd may be restarting).
type Publisher struct {
	address   string
	namespace string

	qmu    sync.Mutex    // guards closed and sends on queue
	closed bool          // guarded by qmu
	queue  chan envelope // closed by Close
	done   chan struct{} // closed when run returns

	mu     sync.Mutex    // guards client
	client *ttrpc.Client // guarded by mu; nil until the first send
}

type envelope struct {
	topic string
	event *types.Envelope
}

const (
	publishRetries = 5
	publishTimeout = 5 * time.Second
)

// NewPublisher starts a publisher to address (unix socket, with or
// without "unix://"). An empty address drops every event.
func NewPublisher(ctx context.Context, address, namespace string) *Publisher {
	p := &Publisher{
		address:   strings.TrimPrefix(address, "unix://"),
		namespace: namespace,
		queue:     make(chan envelope, 128),
		done:      make(chan struct{}),
	}
	go p.run(ctx)
	return p
}

// Publish queues event under topic.
func (p *Publisher) Publish(ctx context.Context, topic string, event any) {
	a, err := typeurl.MarshalAnyToProto(event)
	if err != nil {
		log.G(ctx).WithError(err).WithField("topic", topic).Error("marshal event")
		return
	}
	env := &types.Envelope{Timestamp: timestamppb.Now(), Namespace: p.namespace, Topic: topic, Event: a}
	p.qmu.Lock()
	defer p.qmu.Unlock()
	if p.closed {
		log.G(ctx).WithField("topic", topic).Warn("event after shutdown dropped")
		return
	}
	p.queue <- envelope{topic, env}
}

// Close sends what is queued and stops.
func (p *Publisher) Close() {
	p.qmu.Lock()
	if !p.closed {
		p.closed = true
		close(p.queue)
	}
	p.qmu.Unlock()
	<-p.done
}

func (p *Publisher) run(ctx context.Context) {
	defer close(p.done)
	defer func() {
		p.mu.Lock()
		if p.client != nil {
			p.client.Close()
		}
		p.mu.Unlock()
	}()
	for e := range p.queue {
		if p.address == "" {
			continue
		}
		var err error
		for i := 0; i < publishRetries; i++ {
			if err = p.send(ctx, e.event); err == nil {
				break
			}
			time.Sleep(time.Duration(i+1) * 100 * time.Millisecond)
		}
		if err != nil {
			log.G(ctx).WithError(err).WithField("topic", e.topic).Error("publish event")
		} else {
			log.G(ctx).WithField("topic", e.topic).Debug("event published")
		}
	}
}

func (p *Publisher) send(ctx context.Context, env *types.Envelope) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client == nil {
		conn, err := net.DialTimeout("unix", p.address, publishTimeout)
		if err != nil {
			return err
		}
		p.client = ttrpc.NewClient(conn)
	}
	cctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	_, err := eventsapi.NewTTRPCEventsClient(p.client).Forward(cctx, &eventsapi.ForwardRequest{Envelope: env})
	if err != nil {
		// Reconnect on the next try.
		p.client.Close()
		p.client = nil
	}
	return err
}
