package main

import (
	"context"
	"sort"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"odradek.test/gointerop/internal/wire"
)

// admin runs kadm through a topic's and a group's life and reports every step; the test asserts.
func admin(f flags) {
	ctx, cancel := context.WithTimeout(context.Background(), wire.Deadline(f.Timeout))
	defer cancel()
	cl := newClient(f)
	defer cl.Close()
	adm := kadm.NewClient(cl)
	steps := map[string]any{}
	topic := f.Topic

	// Topics.
	created, err := adm.CreateTopics(ctx, 3, 1, map[string]*string{"retention.ms": kadm.StringPtr("3600000")}, topic)
	steps["create"] = topicResults(created, err)
	again, err := adm.CreateTopics(ctx, 3, 1, nil, topic)
	steps["create_again"] = topicResults(again, err)
	badRF, err := adm.CreateTopics(ctx, 1, 3, nil, topic+"-rf3")
	steps["create_rf3"] = topicResults(badRF, err)
	badName, err := adm.CreateTopics(ctx, 1, 1, nil, "bad/name")
	steps["create_bad_name"] = topicResults(badName, err)

	listed, err := adm.ListTopics(ctx)
	steps["list"] = describeTopics(listed, err, topic)
	cp, err := adm.CreatePartitions(ctx, 2, topic)
	steps["create_partitions"] = map[string]any{"error": errInfo(firstErr(err, cp[topic].Err))}
	cpDown, err := adm.UpdatePartitions(ctx, 2, topic)
	steps["shrink_partitions"] = map[string]any{"error": errInfo(firstErr(err, cpDown[topic].Err))}
	md, err := adm.Metadata(ctx, topic)
	steps["metadata"] = describeTopics(md.Topics, err, topic)
	steps["cluster"] = map[string]any{"cluster_id": md.Cluster, "controller": md.Controller, "brokers": brokerIDs(md.Brokers)}

	// Configs.
	steps["describe_configs"] = topicConfigs(ctx, adm, topic)
	alter, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("7200000")},
		{Op: kadm.SetConfig, Name: "max.message.bytes", Value: kadm.StringPtr("500000")},
	}, topic)
	steps["alter_configs"] = alterResults(alter, err)
	steps["describe_after_alter"] = topicConfigs(ctx, adm, topic)
	del, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "max.message.bytes"}}, topic)
	steps["delete_config"] = alterResults(del, err)
	steps["describe_after_delete"] = topicConfigs(ctx, adm, topic)
	badAlter, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "no.such.config", Value: kadm.StringPtr("1")}}, topic)
	steps["alter_unknown"] = alterResults(badAlter, err)
	state, err := adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "cleanup.policy", Value: kadm.StringPtr("compact,delete")}}, topic)
	steps["alter_configs_state"] = alterResults(state, err)
	steps["describe_after_state"] = topicConfigs(ctx, adm, topic)
	if md.Controller >= 0 || len(md.Brokers) > 0 {
		id := md.Brokers[0].NodeID
		bc, err := adm.DescribeBrokerConfigs(ctx, id)
		steps["broker_configs"] = configResults(bc, err)
	}

	// Records, a group, offsets.
	prod := newClient(f, kgo.DefaultProduceTopic(topic))
	var recs []*kgo.Record
	for i := 0; i < 30; i++ {
		recs = append(recs, &kgo.Record{Key: []byte("k" + strconv.Itoa(i)), Value: []byte("v" + strconv.Itoa(i))})
	}
	steps["produce"] = map[string]any{"error": wire.ErrText(prod.ProduceSync(ctx, recs...).FirstErr())}
	prod.Close()
	ends, err := adm.ListEndOffsets(ctx, topic)
	steps["end_offsets"] = listedOffsets(ends, err)
	maxTS, err := adm.ListMaxTimestampOffsets(ctx, topic)
	steps["max_timestamp_offsets"] = listedOffsets(maxTS, err)
	after, err := adm.ListOffsetsAfterMilli(ctx, time.Now().Add(time.Hour).UnixMilli(), topic)
	steps["offsets_after_future"] = listedOffsets(after, err)

	var ts kadm.TopicsSet
	ts.Add(topic, 0, 1, 2, 3, 4)
	dirs, err := adm.DescribeAllLogDirs(ctx, ts)
	ld := map[string]any{"error": errInfo(err)}
	sizes := map[string]int64{}
	dirs.Each(func(d kadm.DescribedLogDir) {
		if d.Err != nil {
			ld["dir_error"] = errInfo(d.Err)
		}
		d.Topics.Each(func(p kadm.DescribedLogDirPartition) { sizes[strconv.Itoa(int(p.Partition))] = p.Size })
	})
	ld["sizes"] = sizes
	steps["log_dirs"] = ld
	var p0 kadm.TopicsSet
	p0.Add(topic, 0)
	el, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, p0)
	steps["elect_preferred"] = map[string]any{"error": errInfo(firstErr(err, el[topic][0].Err))}
	ra, err := adm.ListPartitionReassignments(ctx, p0)
	steps["list_reassignments"] = map[string]any{"error": errInfo(err), "count": len(ra[topic])}

	member := newClient(f, kgo.ConsumerGroup(f.Group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(),
		kgo.FetchMaxWait(200*time.Millisecond))
	n := 0
	for n < 30 && ctx.Err() == nil {
		fs := member.PollFetches(ctx)
		n += fs.NumRecords()
		if err := member.CommitUncommittedOffsets(ctx); err != nil {
			steps["group_commit_error"] = err.Error()
		}
	}
	steps["group_consumed"] = n
	lg, err := adm.ListGroups(ctx)
	steps["list_groups"] = listGroups(lg, err)
	dg, err := adm.DescribeGroups(ctx, f.Group)
	steps["describe_group_active"] = describeGroup(dg, err, f.Group, topic)
	fo, err := adm.FetchOffsets(ctx, f.Group)
	steps["fetch_offsets"] = offsetResponses(fo, err, topic)
	lag, err := adm.Lag(ctx, f.Group)
	if err == nil {
		l := lag[f.Group]
		steps["lag"] = map[string]any{"total": l.Lag.Total(), "error": errInfo(l.Error())}
	} else {
		steps["lag"] = map[string]any{"error": errInfo(err)}
	}
	member.Close()
	dg, err = adm.DescribeGroups(ctx, f.Group)
	steps["describe_group_empty"] = describeGroup(dg, err, f.Group, topic)

	set := kadm.Offsets{}
	set.Add(kadm.Offset{Topic: topic, Partition: 0, At: 1, LeaderEpoch: -1})
	co, err := adm.CommitOffsets(ctx, f.Group, set)
	steps["commit_offsets"] = offsetResponses(co, err, topic)
	fo, err = adm.FetchOffsets(ctx, f.Group)
	steps["fetch_after_commit"] = offsetResponses(fo, err, topic)

	var p1 kadm.TopicsSet
	p1.Add(topic, 1)
	do, err := adm.DeleteOffsets(ctx, f.Group, p1)
	if err == nil {
		err = do.Error()
	}
	steps["delete_group_offset"] = map[string]any{"error": errInfo(err)}
	fo, err = adm.FetchOffsets(ctx, f.Group)
	steps["fetch_after_offset_delete"] = offsetResponses(fo, err, topic)

	delr := kadm.Offsets{}
	delr.Add(kadm.Offset{Topic: topic, Partition: 0, At: 1, LeaderEpoch: -1})
	dr, err := adm.DeleteRecords(ctx, delr)
	if err == nil {
		err = dr.Error()
	}
	steps["delete_records"] = map[string]any{"error": errInfo(err)}
	starts, err := adm.ListStartOffsets(ctx, topic)
	steps["start_offsets"] = listedOffsets(starts, err)

	dgr, err := adm.DeleteGroups(ctx, f.Group)
	steps["delete_group"] = map[string]any{"error": errInfo(firstErr(err, dgr[f.Group].Err))}
	lg, err = adm.ListGroups(ctx)
	steps["list_groups_after_delete"] = listGroups(lg, err)

	dt, err := adm.DeleteTopics(ctx, topic)
	steps["delete_topic"] = map[string]any{"error": errInfo(firstErr(err, dt[topic].Err))}
	dt, err = adm.DeleteTopics(ctx, topic)
	steps["delete_again"] = map[string]any{"error": errInfo(firstErr(err, dt[topic].Err))}

	wire.Emit(map[string]any{"steps": steps})
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func topicResults(rs kadm.CreateTopicResponses, err error) map[string]any {
	out := map[string]any{"error": errInfo(err)}
	for name, r := range rs {
		out[name] = map[string]any{"error": errInfo(r.Err), "partitions": r.NumPartitions, "rf": r.ReplicationFactor,
			"id": r.ID.String(), "message": r.ErrMessage}
	}
	return out
}

func describeTopics(td kadm.TopicDetails, err error, topic string) map[string]any {
	out := map[string]any{"error": errInfo(err), "present": td.Has(topic)}
	if t, ok := td[topic]; ok {
		var ps []map[string]any
		for _, p := range t.Partitions.Sorted() {
			ps = append(ps, map[string]any{"partition": p.Partition, "leader": p.Leader, "replicas": p.Replicas,
				"isr": p.ISR, "error": errInfo(p.Err)})
		}
		out["partitions"] = ps
		out["id"] = t.ID.String()
		out["topic_error"] = errInfo(t.Err)
	}
	return out
}

func brokerIDs(bs kadm.BrokerDetails) []int32 {
	var ids []int32
	for _, b := range bs {
		ids = append(ids, b.NodeID)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

func configResults(rcs kadm.ResourceConfigs, err error) map[string]any {
	out := map[string]any{"error": errInfo(err)}
	for _, rc := range rcs {
		cfgs := map[string]any{}
		for _, c := range rc.Configs {
			var v any
			if c.Value != nil {
				v = *c.Value
			}
			cfgs[c.Key] = map[string]any{"value": v, "source": c.Source.String(), "sensitive": c.Sensitive}
		}
		out["configs"] = cfgs
		out["resource_error"] = errInfo(rc.Err)
	}
	return out
}

func topicConfigs(ctx context.Context, adm *kadm.Client, topic string) map[string]any {
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	return configResults(rcs, err)
}

func alterResults(rs kadm.AlterConfigsResponses, err error) map[string]any {
	out := map[string]any{"error": errInfo(err)}
	for _, r := range rs {
		out["resource_error"] = errInfo(r.Err)
		out["message"] = r.ErrMessage
	}
	return out
}

func listedOffsets(lo kadm.ListedOffsets, err error) map[string]any {
	out := map[string]any{"error": errInfo(err)}
	offs := map[string]int64{}
	lo.Each(func(o kadm.ListedOffset) {
		offs[strconv.Itoa(int(o.Partition))] = o.Offset
		if o.Err != nil {
			out["partition_error"] = errInfo(o.Err)
		}
	})
	out["offsets"] = offs
	return out
}

func listGroups(lg kadm.ListedGroups, err error) map[string]any {
	out := map[string]any{"error": errInfo(err)}
	gs := map[string]any{}
	for name, g := range lg {
		gs[name] = map[string]any{"state": g.State, "protocol_type": g.ProtocolType, "coordinator": g.Coordinator}
	}
	out["groups"] = gs
	return out
}

func describeGroup(dg kadm.DescribedGroups, err error, group, topic string) map[string]any {
	out := map[string]any{"error": errInfo(err)}
	g, ok := dg[group]
	if !ok {
		return out
	}
	out["state"] = g.State
	out["protocol_type"] = g.ProtocolType
	out["protocol"] = g.Protocol
	out["group_error"] = errInfo(g.Err)
	var members []map[string]any
	for _, m := range g.Members {
		var assigned []int32
		if ca, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range ca.Topics {
				if t.Topic == topic {
					assigned = append(assigned, t.Partitions...)
				}
			}
		}
		sort.Slice(assigned, func(i, j int) bool { return assigned[i] < assigned[j] })
		members = append(members, map[string]any{"member_id": m.MemberID, "client_id": m.ClientID, "assigned": assigned})
	}
	out["members"] = members
	return out
}

func offsetResponses(or kadm.OffsetResponses, err error, topic string) map[string]any {
	out := map[string]any{"error": errInfo(err)}
	offs := map[string]int64{}
	for p, r := range or[topic] {
		offs[strconv.Itoa(int(p))] = r.At
		if r.Err != nil {
			out["partition_error"] = errInfo(r.Err)
		}
	}
	out["offsets"] = offs
	return out
}
