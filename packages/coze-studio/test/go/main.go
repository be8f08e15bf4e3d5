// cozego behaves on the wire as Coze Studio's Go event bus on NATS does
// (backend/infra/eventbus/impl/nats), so the TypeScript tests can check that
// @cozebus/coze-studio and a Coze Go service understand each other. Written
// for these tests; it reproduces Coze's behaviour, including the parts
// cozebus deliberately does differently (the message id taken from the
// sharding key, Nak without delay, no delivery limit).
//
//	cozego echo <topic>                      stdin JSON lines -> Go struct -> JSON lines (as Coze's services marshal)
//	cozego produce -topic T [-key K] [-batch] [-marshal] [-group G]
//	                                         stdin JSON lines -> Send / BatchSend
//	cozego consume -topic T -group G [-fail] [-fanout]
//	                                         prints {"ready":true}, then one JSON line per message
//
// The server address comes from MQ_NAME_SERVER and the mode from
// NATS_USE_JETSTREAM (only "true" means JetStream), as in Coze.
// COZE_MQ_TYPE=pulsar switches produce and consume to Coze's Pulsar
// behaviour on apache/pulsar-client-go (pulsar.go); MQ_NAME_SERVER is then
// the pulsar:// service URL.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
)

var out = struct {
	sync.Mutex
	w *bufio.Writer
}{w: bufio.NewWriter(os.Stdout)}

// emit writes one JSON line to stdout and flushes it, so the test reads it at once.
func emit(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	out.Lock()
	defer out.Unlock()
	out.w.Write(b)
	out.w.WriteByte('\n')
	out.w.Flush()
}

func fail(format string, args ...any) {
	emit(map[string]string{"fatal": fmt.Sprintf(format, args...)})
	os.Exit(1)
}

// marshal writes JSON as Coze's services do: sonic's default does not escape <, > and &.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// stdinLines, when set, replaces what readLines would read.
var stdinLines [][]byte

func marshalled(topic string, lines [][]byte) [][]byte {
	out := make([][]byte, 0, len(lines))
	for i, line := range lines {
		v := payloadFor(topic)
		if v == nil {
			fail("no Go payload type for topic %q", topic)
		}
		if err := json.Unmarshal(line, v); err != nil {
			fail("line %d: %v", i, err)
		}
		b, err := marshal(v)
		if err != nil {
			fail("line %d: %v", i, err)
		}
		out = append(out, b)
	}
	return out
}

func readLines() [][]byte {
	if stdinLines != nil {
		return stdinLines
	}
	var lines [][]byte
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) > 0 {
			lines = append(lines, append([]byte(nil), sc.Bytes()...))
		}
	}
	return lines
}

func main() {
	if len(os.Args) < 2 {
		fail("usage: cozego echo|produce|consume ...")
	}
	switch os.Args[1] {
	case "echo":
		echo(os.Args[2:])
	case "produce":
		produce(os.Args[2:])
	case "consume":
		consume(os.Args[2:])
	default:
		fail("unknown command %q", os.Args[1])
	}
}

func echo(args []string) {
	if len(args) != 1 || payloadFor(args[0]) == nil {
		fail("usage: cozego echo opencoze_knowledge|opencoze_search_resource|opencoze_search_app")
	}
	for _, line := range readLines() {
		v := payloadFor(args[0])
		if err := json.Unmarshal(line, v); err != nil {
			emit(map[string]string{"error": err.Error()})
			continue
		}
		b, err := marshal(v)
		if err != nil {
			emit(map[string]string{"error": err.Error()})
			continue
		}
		emit(map[string]string{"json": string(b)})
	}
}

// groupFor is the group Coze's Init*EventBusProducer passes for a topic
// (backend/infra/eventbus/impl/eventbus.go); a test topic falls back to the
// knowledge group, as its payloads are knowledge events.
func groupFor(topic, group string) string {
	if group != "" {
		return group
	}
	switch {
	case strings.HasPrefix(topic, "opencoze_search_resource"):
		return "cg_search_resource"
	case strings.HasPrefix(topic, "opencoze_search_app"):
		return "cg_search_app"
	default:
		return "cg_knowledge"
	}
}

func useJetStream() bool { return os.Getenv("NATS_USE_JETSTREAM") == "true" }

func connect(name string) *nats.Conn {
	server := os.Getenv("MQ_NAME_SERVER")
	if server == "" {
		fail("MQ_NAME_SERVER is empty")
	}
	opts := []nats.Option{nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(2 * time.Second)}
	switch {
	case os.Getenv("NATS_JWT_TOKEN") != "":
		opts = append(opts, nats.UserJWTAndSeed(os.Getenv("NATS_JWT_TOKEN"), os.Getenv("NATS_NKEY_SEED")))
	case os.Getenv("NATS_USERNAME") != "":
		opts = append(opts, nats.UserInfo(os.Getenv("NATS_USERNAME"), os.Getenv("NATS_PASSWORD")))
	case os.Getenv("NATS_TOKEN") != "":
		opts = append(opts, nats.Token(os.Getenv("NATS_TOKEN")))
	}
	nc, err := nats.Connect(server, opts...)
	if err != nil {
		fail("connect: %v", err)
	}
	return nc
}

// streamFor creates the topic's stream when it does not exist, with the
// settings Coze's ensureStream uses; an existing stream is used as it is.
func streamFor(js nats.JetStreamContext, topic string) {
	name := strings.ReplaceAll(topic, ".", "_") + "_STREAM"
	if _, err := js.StreamInfo(name); err == nil {
		return
	} else if !errors.Is(err, nats.ErrStreamNotFound) {
		fail("stream info %s: %v", name, err)
	}
	_, err := js.AddStream(&nats.StreamConfig{
		Name:     name,
		Subjects: []string{topic},
		Storage:  nats.FileStorage,
		MaxAge:   24 * time.Hour,
		MaxMsgs:  1_000_000,
		MaxBytes: 1 << 30,
	})
	if err != nil && !errors.Is(err, nats.ErrStreamNameAlreadyInUse) {
		fail("add stream %s: %v", name, err)
	}
}

// producer sends as Coze's producerImpl does.
type producer struct {
	nc    *nats.Conn
	js    nats.JetStreamContext
	topic string
}

func newProducer(topic string) *producer {
	p := &producer{nc: connect("coze-studio-producer"), topic: topic}
	if useJetStream() {
		js, err := p.nc.JetStream()
		if err != nil {
			fail("jetstream: %v", err)
		}
		p.js = js
	}
	return p
}

func (p *producer) batchSend(ctx context.Context, bodies [][]byte, key string) error {
	if p.js != nil {
		streamFor(p.js, p.topic) // Coze checks the stream on every send
		for i, body := range bodies {
			var opts []nats.PubOpt
			if key != "" {
				// Coze's message id: the sharding key and the index in the batch.
				opts = append(opts, nats.MsgId(fmt.Sprintf("%s-%d", key, i)))
			}
			opts = append(opts, nats.Context(ctx))
			if _, err := p.js.Publish(p.topic, body, opts...); err != nil {
				return fmt.Errorf("publish %d: %w", i, err)
			}
		}
		return nil
	}
	for i, body := range bodies {
		m := &nats.Msg{Subject: p.topic, Data: body}
		if key != "" {
			m.Header = nats.Header{}
			m.Header.Set("Sharding-Key", key)
		}
		if err := p.nc.PublishMsg(m); err != nil {
			return fmt.Errorf("publish %d: %w", i, err)
		}
	}
	return p.nc.Flush()
}

func produce(args []string) {
	fs := flag.NewFlagSet("produce", flag.ExitOnError)
	topic := fs.String("topic", "", "topic")
	key := fs.String("key", "", "sharding key (WithShardingKey)")
	batch := fs.Bool("batch", false, "send all lines with one BatchSend instead of one Send each")
	group := fs.String("group", "", "Pulsar: the group the producer is made for (its name is <group>-producer); default the topic's Coze group")
	remarshal := fs.Bool("marshal", false, "decode each line into the topic's Go struct and send it as Coze's services marshal it")
	fs.Parse(args)
	if *remarshal {
		stdinLines = marshalled(*topic, readLines())
	}
	if usePulsar() {
		producePulsar(*topic, groupFor(*topic, *group), *key, *batch)
		return
	}
	p := newProducer(*topic)
	defer p.nc.Drain()
	lines := readLines()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if *batch {
		if err := p.batchSend(ctx, lines, *key); err != nil {
			fail("batch send: %v", err)
		}
		emit(map[string]int{"sent": len(lines)})
		return
	}
	for i, line := range lines {
		if err := p.batchSend(ctx, [][]byte{line}, *key); err != nil {
			fail("send %d: %v", i, err)
		}
	}
	emit(map[string]int{"sent": len(lines)})
}

type received struct {
	Body     string            `json:"body"`
	Echo     string            `json:"echo,omitempty"`
	Error    string            `json:"error,omitempty"`
	Headers  map[string]string `json:"headers,omitempty"`
	Key      string            `json:"key,omitempty"`
	Attempt  uint64            `json:"attempt,omitempty"`
	FannedTo int               `json:"fannedOut,omitempty"`
}

func consume(args []string) {
	fs := flag.NewFlagSet("consume", flag.ExitOnError)
	topic := fs.String("topic", "", "topic")
	group := fs.String("group", "", "group")
	failAll := fs.Bool("fail", false, "the handler returns an error for every message")
	fanout := fs.Bool("fanout", false, "knowledge: send one index_document per document of an index_documents, as Coze's handler does")
	fs.Parse(args)
	if usePulsar() {
		consumePulsar(*topic, *group, *failAll, *fanout)
		return
	}
	nc := connect(*group + "-consumer")
	defer nc.Close()

	var fan *producer
	if *fanout {
		fan = newProducer(*topic)
		defer fan.nc.Drain()
	}

	var sender batchSender
	if fan != nil {
		sender = fan
	}
	handle := func(m *nats.Msg, attempt uint64) error {
		r := received{Body: string(m.Data), Attempt: attempt, Headers: map[string]string{}}
		for k := range m.Header {
			r.Headers[k] = m.Header.Get(k)
		}
		return handleDelivery(r, *topic, m.Data, sender, *failAll)
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

	if !useJetStream() {
		sub, err := nc.QueueSubscribe(*topic, *group, func(m *nats.Msg) { _ = handle(m, 1) })
		if err != nil {
			fail("queue subscribe: %v", err)
		}
		if err := nc.Flush(); err != nil {
			fail("flush: %v", err)
		}
		emit(map[string]bool{"ready": true})
		<-ctx.Done()
		sub.Drain()
		return
	}

	js, err := nc.JetStream()
	if err != nil {
		fail("jetstream: %v", err)
	}
	streamFor(js, *topic)
	sub, err := js.PullSubscribe(*topic, *group)
	if err != nil {
		fail("pull subscribe: %v", err)
	}
	emit(map[string]bool{"ready": true})
	for ctx.Err() == nil {
		msgs, err := sub.Fetch(1, nats.MaxWait(time.Second))
		if err != nil {
			continue // timeouts and transient errors, as Coze's loop does
		}
		for _, m := range msgs {
			var attempt uint64
			if md, err := m.Metadata(); err == nil {
				attempt = md.NumDelivered
			}
			if err := handle(m, attempt); err != nil {
				m.Nak() // at once, no delay: as Coze
				continue
			}
			m.Ack()
		}
	}
}

// batchSender is what a fan-out sends through: Coze's BatchSend on either broker.
type batchSender interface {
	batchSend(ctx context.Context, bodies [][]byte, key string) error
}

// handleDelivery is Coze's consumer side for one message on either broker: decode the
// payload into the topic's Go struct (an error redelivers, as Coze's handlers do), report
// it re-marshalled, fan an index_documents out into index_document events through fan
// (when set, on the same topic), and fail when asked to.
func handleDelivery(r received, topic string, payload []byte, fan batchSender, failAll bool) error {
	v := payloadFor(topic)
	if err := json.Unmarshal(payload, v); err != nil {
		r.Error = err.Error()
		emit(r)
		return err
	}
	b, _ := marshal(v)
	r.Echo = string(b)
	if ev, ok := v.(*knowledgeEvent); ok && fan != nil && ev.Type == "index_documents" {
		for _, d := range ev.Documents {
			if d == nil {
				continue
			}
			body, _ := marshal(&knowledgeEvent{Type: "index_document", KnowledgeID: d.KnowledgeID, Document: d})
			if err := fan.batchSend(context.Background(), [][]byte{body}, fmt.Sprint(d.KnowledgeID)); err != nil {
				return err
			}
			r.FannedTo++
		}
	}
	emit(r)
	if failAll {
		return errors.New("failing as asked")
	}
	return nil
}
