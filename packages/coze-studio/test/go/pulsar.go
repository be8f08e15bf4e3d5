package main

// The Pulsar mode (COZE_MQ_TYPE=pulsar): the producer and consumer as Coze's
// backend/infra/eventbus/impl/pulsar builds them on the same client release
// Coze's backend/go.mod pins (apache/pulsar-client-go v0.16.0):
//
//   - NewProducer: ClientOptions{URL: MQ_NAME_SERVER} (+ token from
//     PULSAR_JWT_TOKEN), ProducerOptions{Topic: <bare topic>, Name:
//     "<group>-producer"}, every other option the client's default
//     (batching on, no compression);
//   - BatchSend: one SendAsync per body, Key = the sharding key when given,
//     no properties, then waits for every callback;
//   - RegisterConsumer: ConsumerOptions{Topic, SubscriptionName: group, Type:
//     Exclusive} (so the initial position and the nack delay are the
//     client's defaults: Latest, 1 minute), a Receive loop, Nack on a
//     handler error, Ack otherwise.

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"
	plog "github.com/apache/pulsar-client-go/pulsar/log"
	"github.com/sirupsen/logrus"
)

func usePulsar() bool { return os.Getenv("COZE_MQ_TYPE") == "pulsar" }

func pulsarClient() pulsar.Client {
	url := os.Getenv("MQ_NAME_SERVER")
	if url == "" {
		fail("MQ_NAME_SERVER is empty")
	}
	opts := pulsar.ClientOptions{URL: url}
	if t := os.Getenv("PULSAR_JWT_TOKEN"); t != "" {
		opts.Authentication = pulsar.NewAuthenticationToken(t)
	}
	// The client logs to stderr at info; only warnings matter to a test reading stderr on failure.
	l := logrus.New()
	l.SetOutput(os.Stderr)
	l.SetLevel(logrus.WarnLevel)
	opts.Logger = plog.NewLoggerWithLogrus(l)
	c, err := pulsar.NewClient(opts)
	if err != nil {
		fail("create pulsar client with URL %s: %v", url, err)
	}
	return c
}

type pulsarProducer struct {
	client   pulsar.Client
	producer pulsar.Producer
}

func newPulsarProducer(topic, group string) *pulsarProducer {
	c := pulsarClient()
	p, err := c.CreateProducer(pulsar.ProducerOptions{Topic: topic, Name: fmt.Sprintf("%s-producer", group)})
	if err != nil {
		c.Close()
		fail("create pulsar producer: %v", err)
	}
	return &pulsarProducer{client: c, producer: p}
}

func (p *pulsarProducer) batchSend(ctx context.Context, bodies [][]byte, key string) error {
	results := make(chan error, len(bodies))
	for _, body := range bodies {
		msg := &pulsar.ProducerMessage{Payload: body}
		if key != "" {
			msg.Key = key
		}
		p.producer.SendAsync(ctx, msg, func(_ pulsar.MessageID, _ *pulsar.ProducerMessage, err error) { results <- err })
	}
	for range bodies {
		select {
		case err := <-results:
			if err != nil {
				return fmt.Errorf("[pulsarProducer] batch send message failed: %w", err)
			}
		case <-ctx.Done():
			return fmt.Errorf("[pulsarProducer] batch send cancelled: %w", ctx.Err())
		}
	}
	return nil
}

func (p *pulsarProducer) close() {
	p.producer.Close()
	p.client.Close()
}

func producePulsar(topic, group, key string, batch bool) {
	p := newPulsarProducer(topic, group)
	defer p.close()
	lines := readLines()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if batch {
		if err := p.batchSend(ctx, lines, key); err != nil {
			fail("batch send: %v", err)
		}
	} else {
		for i, line := range lines {
			if err := p.batchSend(ctx, [][]byte{line}, key); err != nil {
				fail("send %d: %v", i, err)
			}
		}
	}
	emit(map[string]int{"sent": len(lines)})
}

func consumePulsar(topic, group string, failAll, fanout bool) {
	client := pulsarClient()
	defer client.Close()
	consumer, err := client.Subscribe(pulsar.ConsumerOptions{Topic: topic, SubscriptionName: group, Type: pulsar.Exclusive})
	if err != nil {
		fail("subscribe: %v", err)
	}
	defer consumer.Close()

	var fan *pulsarProducer
	if fanout {
		fan = newPulsarProducer(topic, group)
		defer fan.close()
	}

	var sender batchSender
	if fan != nil {
		sender = fan
	}
	handle := func(m pulsar.Message) error {
		r := received{Body: string(m.Payload()), Key: m.Key(), Attempt: uint64(m.RedeliveryCount()) + 1, Headers: m.Properties()}
		return handleDelivery(r, topic, m.Payload(), sender, failAll)
	}

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	go func() {
		// The test closes stdin to stop us.
		buf := make([]byte, 1)
		for {
			if _, err := os.Stdin.Read(buf); err != nil {
				cancel()
				return
			}
		}
	}()
	emit(map[string]bool{"ready": true})
	for {
		msg, err := consumer.Receive(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			continue // as Coze's loop: log and receive again
		}
		if err := handle(msg); err != nil {
			consumer.Nack(msg)
			continue
		}
		consumer.Ack(msg)
	}
}
