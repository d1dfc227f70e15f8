package main

import (
	"context"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"odradek.test/gointerop/internal/wire"
)

// admin runs sarama's ClusterAdmin through a topic's and a group's life and reports every step;
// the test asserts.
func admin(f flags) {
	cfg := config(f)
	cl := newClient(f, cfg)
	defer cl.Close()
	adm, err := sarama.NewClusterAdminFromClient(cl)
	if err != nil {
		wire.Fatal("NewClusterAdmin: %v", err)
	}
	steps := map[string]any{}
	topic := f.Topic
	str := func(s string) *string { return &s }

	// Topics.
	err = adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1,
		ConfigEntries: map[string]*string{"retention.ms": str("3600000")}}, false)
	steps["create"] = map[string]any{"error": errInfo(err)}
	err = adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1}, false)
	steps["create_again"] = map[string]any{"error": errInfo(err)}
	err = adm.CreateTopic(topic+"-rf3", &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 3}, false)
	steps["create_rf3"] = map[string]any{"error": errInfo(err)}
	err = adm.CreateTopic("bad/name", &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false)
	steps["create_bad_name"] = map[string]any{"error": errInfo(err)}
	err = adm.CreateTopic(topic+"-validate", &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1}, true)
	steps["create_validate_only"] = map[string]any{"error": errInfo(err)}

	listed, err := adm.ListTopics()
	lt := map[string]any{"error": errInfo(err)}
	if d, ok := listed[topic]; ok {
		lt["partitions"] = d.NumPartitions
		lt["rf"] = d.ReplicationFactor
		cfgs := map[string]any{}
		for k, v := range d.ConfigEntries {
			if v != nil {
				cfgs[k] = *v
			}
		}
		lt["configs"] = cfgs
	}
	_, lt["validate_only_present"] = listed[topic+"-validate"]
	steps["list"] = lt

	err = adm.CreatePartitions(topic, 5, nil, false)
	steps["create_partitions"] = map[string]any{"error": errInfo(err)}
	err = adm.CreatePartitions(topic, 2, nil, false)
	steps["shrink_partitions"] = map[string]any{"error": errInfo(err)}
	steps["describe"] = describeTopic(adm, topic)

	brokers, controller, err := adm.DescribeCluster()
	var ids []int32
	for _, b := range brokers {
		ids = append(ids, b.ID())
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	steps["cluster"] = map[string]any{"brokers": ids, "controller": controller, "error": errInfo(err)}

	// Configs.
	steps["describe_configs"] = topicConfigs(adm, topic)
	err = adm.IncrementalAlterConfig(sarama.TopicResource, topic, map[string]sarama.IncrementalAlterConfigsEntry{
		"retention.ms":      {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: str("7200000")},
		"max.message.bytes": {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: str("500000")},
	}, false)
	steps["alter_configs"] = map[string]any{"error": errInfo(err)}
	steps["describe_after_alter"] = topicConfigs(adm, topic)
	err = adm.IncrementalAlterConfig(sarama.TopicResource, topic, map[string]sarama.IncrementalAlterConfigsEntry{
		"max.message.bytes": {Operation: sarama.IncrementalAlterConfigsOperationDelete},
	}, false)
	steps["delete_config"] = map[string]any{"error": errInfo(err)}
	steps["describe_after_delete"] = topicConfigs(adm, topic)
	err = adm.IncrementalAlterConfig(sarama.TopicResource, topic, map[string]sarama.IncrementalAlterConfigsEntry{
		"no.such.config": {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: str("1")},
	}, false)
	steps["alter_unknown"] = map[string]any{"error": errInfo(err)}
	err = adm.AlterConfig(sarama.TopicResource, topic, map[string]*string{"cleanup.policy": str("compact,delete")}, false)
	steps["alter_configs_state"] = map[string]any{"error": errInfo(err)}
	steps["describe_after_state"] = topicConfigs(adm, topic)
	if len(ids) > 0 {
		entries, err := adm.DescribeConfig(sarama.ConfigResource{Type: sarama.BrokerResource, Name: strconv.Itoa(int(ids[0]))})
		steps["broker_configs"] = configEntries(entries, err)
	}

	// Records, a group, offsets.
	pcfg := config(f)
	pcfg.Producer.Return.Successes = true
	pcfg.Producer.RequiredAcks = sarama.WaitForAll
	prod, err := sarama.NewSyncProducer(wire.Brokers(f.Brokers), pcfg)
	if err != nil {
		wire.Fatal("NewSyncProducer: %v", err)
	}
	var msgs []*sarama.ProducerMessage
	for i := 0; i < 30; i++ {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder("k" + strconv.Itoa(i)),
			Value: sarama.StringEncoder("v" + strconv.Itoa(i))})
	}
	steps["produce"] = map[string]any{"error": wire.ErrText(prod.SendMessages(msgs))}
	prod.Close()
	ends := map[string]int64{}
	for p := int32(0); p < 5; p++ {
		off, err := cl.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			steps["end_offsets_error"] = errInfo(err)
		}
		ends[strconv.Itoa(int(p))] = off
	}
	steps["end_offsets"] = map[string]any{"offsets": ends}
	future := map[int32]int64{}
	for p := int32(0); p < 5; p++ {
		future[p] = time.Now().Add(time.Hour).UnixMilli()
	}
	lo, err := adm.ListOffsets(map[string]map[int32]int64{topic: future}, nil)
	after := map[string]any{"error": errInfo(err)}
	offs := map[string]int64{}
	for p, r := range lo[topic] {
		offs[strconv.Itoa(int(p))] = r.Offset
		if r.Err != nil {
			after["partition_error"] = errInfo(r.Err)
		}
	}
	after["offsets"] = offs
	steps["offsets_after_future"] = after

	if len(ids) > 0 {
		dirs, err := adm.DescribeLogDirs([]int32{ids[0]})
		ld := map[string]any{"error": errInfo(err)}
		sizes := map[string]int64{}
		for _, ds := range dirs {
			for _, d := range ds {
				if d.ErrorCode != sarama.ErrNoError {
					ld["dir_error"] = errInfo(d.ErrorCode)
				}
				for _, t := range d.Topics {
					if t.Topic == topic {
						for _, p := range t.Partitions {
							sizes[strconv.Itoa(int(p.PartitionID))] = p.Size
						}
					}
				}
			}
		}
		ld["sizes"] = sizes
		steps["log_dirs"] = ld
	}
	el, err := adm.ElectLeaders(sarama.PreferredElection, map[string][]int32{topic: {0}})
	ela := map[string]any{"error": errInfo(err)}
	if r := el[topic][0]; r != nil {
		ela["error"] = errInfo(r.ErrorCode)
	}
	steps["elect_preferred"] = ela
	ra, err := adm.ListPartitionReassignments(topic, []int32{0})
	steps["list_reassignments"] = map[string]any{"error": errInfo(err), "count": len(ra[topic])}

	// One group member consumes everything and commits; the admin looks while it is still in.
	gcfg := config(f)
	gcfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	gcfg.Consumer.Offsets.AutoCommit.Enable = false
	gcfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}
	cg, err := sarama.NewConsumerGroup(wire.Brokers(f.Brokers), f.Group, gcfg)
	if err != nil {
		wire.Fatal("NewConsumerGroup: %v", err)
	}
	m := &member{want: 30, done: make(chan struct{}), release: make(chan struct{})}
	consumed := make(chan error, 1)
	go func() { consumed <- cg.Consume(context.Background(), []string{topic}, m) }()
	select {
	case <-m.done:
	case <-time.After(wire.Deadline(f.Timeout)):
		steps["group_timeout"] = true
	}
	steps["group_consumed"] = m.n.Load()
	groups, err := adm.ListConsumerGroups()
	steps["list_groups"] = map[string]any{"groups": groups, "error": errInfo(err)}
	steps["describe_group_active"] = describeGroup(adm, f.Group, topic)
	steps["fetch_offsets"] = groupOffsets(adm, f.Group, topic)
	close(m.release)
	<-consumed
	cg.Close()
	steps["describe_group_empty"] = describeGroup(adm, f.Group, topic)

	resp, err := adm.AlterConsumerGroupOffsets(f.Group, map[string]map[int32]sarama.OffsetAndMetadata{
		topic: {0: {Offset: 1, LeaderEpoch: -1}}}, nil)
	ac := map[string]any{"error": errInfo(err)}
	if resp != nil {
		if b := resp.Errors[topic]; b != nil {
			ac["partition_error"] = errInfo(b[0])
		}
	}
	steps["commit_offsets"] = ac
	steps["fetch_after_commit"] = groupOffsets(adm, f.Group, topic)

	err = adm.DeleteRecords(topic, map[int32]int64{0: 1})
	steps["delete_records"] = map[string]any{"error": errInfo(err)}
	starts := map[string]int64{}
	for p := int32(0); p < 5; p++ {
		off, err := cl.GetOffset(topic, p, sarama.OffsetOldest)
		if err != nil {
			steps["start_offsets_error"] = errInfo(err)
		}
		starts[strconv.Itoa(int(p))] = off
	}
	steps["start_offsets"] = map[string]any{"offsets": starts}

	err = adm.DeleteConsumerGroupOffset(f.Group, topic, 1)
	steps["delete_group_offset"] = map[string]any{"error": errInfo(err)}
	steps["fetch_after_offset_delete"] = groupOffsets(adm, f.Group, topic)
	err = adm.DeleteConsumerGroup(f.Group)
	steps["delete_group"] = map[string]any{"error": errInfo(err)}
	groups, err = adm.ListConsumerGroups()
	steps["list_groups_after_delete"] = map[string]any{"groups": groups, "error": errInfo(err)}

	err = adm.DeleteTopic(topic)
	steps["delete_topic"] = map[string]any{"error": errInfo(err)}
	err = adm.DeleteTopic(topic)
	steps["delete_again"] = map[string]any{"error": errInfo(err)}

	wire.Emit(map[string]any{"steps": steps})
}

func describeTopic(adm sarama.ClusterAdmin, topic string) map[string]any {
	md, err := adm.DescribeTopics([]string{topic})
	out := map[string]any{"error": errInfo(err)}
	for _, t := range md {
		if t.Name != topic {
			continue
		}
		out["topic_error"] = errInfo(t.Err)
		var ps []map[string]any
		for _, p := range t.Partitions {
			ps = append(ps, map[string]any{"partition": p.ID, "leader": p.Leader, "replicas": p.Replicas, "isr": p.Isr,
				"error": errInfo(p.Err)})
		}
		sort.Slice(ps, func(i, j int) bool { return ps[i]["partition"].(int32) < ps[j]["partition"].(int32) })
		out["partitions"] = ps
	}
	return out
}

func configEntries(entries []sarama.ConfigEntry, err error) map[string]any {
	cfgs := map[string]any{}
	for _, e := range entries {
		cfgs[e.Name] = map[string]any{"value": e.Value, "source": e.Source.String(), "default": e.Default,
			"read_only": e.ReadOnly, "sensitive": e.Sensitive}
	}
	return map[string]any{"configs": cfgs, "error": errInfo(err)}
}

func topicConfigs(adm sarama.ClusterAdmin, topic string) map[string]any {
	entries, err := adm.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic})
	return configEntries(entries, err)
}

func describeGroup(adm sarama.ClusterAdmin, group, topic string) map[string]any {
	ds, err := adm.DescribeConsumerGroups([]string{group})
	out := map[string]any{"error": errInfo(err)}
	for _, g := range ds {
		if g.GroupId != group {
			continue
		}
		out["state"] = g.State
		out["protocol_type"] = g.ProtocolType
		out["protocol"] = g.Protocol
		out["group_error"] = errInfo(g.Err)
		var members []map[string]any
		for id, m := range g.Members {
			var assigned []int32
			if a, err := m.GetMemberAssignment(); err == nil && a != nil {
				assigned = append(assigned, a.Topics[topic]...)
			}
			sort.Slice(assigned, func(i, j int) bool { return assigned[i] < assigned[j] })
			members = append(members, map[string]any{"member_id": id, "client_id": m.ClientId, "assigned": assigned})
		}
		out["members"] = members
	}
	return out
}

func groupOffsets(adm sarama.ClusterAdmin, group, topic string) map[string]any {
	resp, err := adm.ListConsumerGroupOffsets(group, nil)
	out := map[string]any{"error": errInfo(err)}
	if resp == nil {
		return out
	}
	offs := map[string]int64{}
	for p := int32(0); p < 5; p++ {
		if b := resp.GetBlock(topic, p); b != nil {
			offs[strconv.Itoa(int(p))] = b.Offset
			if b.Err != sarama.ErrNoError {
				out["partition_error"] = errInfo(b.Err)
			}
		}
	}
	out["offsets"] = offs
	out["group_error"] = errInfo(resp.GroupError())
	return out
}

// member is the admin scenario's one group member: it consumes and commits until it has seen
// want records, then holds its session (so the group shows it) until released.
type member struct {
	want    int64
	n       atomic.Int64
	once    sync.Once
	done    chan struct{}
	release chan struct{}
}

func (m *member) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (m *member) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (m *member) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for {
		select {
		case msg, ok := <-c.Messages():
			if !ok {
				return nil
			}
			s.MarkMessage(msg, "")
			s.Commit()
			if m.n.Add(1) >= m.want {
				m.once.Do(func() { close(m.done) })
			}
		case <-m.release:
			return nil
		case <-s.Context().Done():
			return nil
		}
	}
}
