import java.util.Collections;
import java.util.List;
import java.util.Map;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ClassicGroupDescription;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.ListGroupsOptions;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.GroupType;

/** What differs between the 4.x and 3.x clients (this is the 4.x side; v3/Versioned.java the other). */
public final class Versioned {
    private Versioned() {}

    public static final String CLIENT = "4";

    public static String state(ConsumerGroupDescription d) {
        return d.groupState().toString();
    }

    /** listGroups (4.x): everything, consumer groups only, by state, by type. */
    public static Map<String, Object> listGroups(Admin admin) throws Exception {
        Map<String, Object> out = Json.obj();
        out.put("all", listings(admin.listGroups().all().get()));
        out.put("consumer", listings(admin.listGroups(ListGroupsOptions.forConsumerGroups()).all().get()));
        out.put("stable", listings(admin.listGroups(new ListGroupsOptions()
            .inGroupStates(Collections.singleton(GroupState.STABLE))).all().get()));
        out.put("empty", listings(admin.listGroups(new ListGroupsOptions()
            .inGroupStates(Collections.singleton(GroupState.EMPTY))).all().get()));
        out.put("classic", listings(admin.listGroups(new ListGroupsOptions()
            .withTypes(Collections.singleton(GroupType.CLASSIC))).all().get()));
        out.put("consumer_type", listings(admin.listGroups(new ListGroupsOptions()
            .withTypes(Collections.singleton(GroupType.CONSUMER))).all().get()));
        return out;
    }

    static List<Object> listings(java.util.Collection<GroupListing> ls) {
        List<Object> out = Json.list();
        for (GroupListing l : ls) {
            out.add(Json.obj("group_id", l.groupId(), "type", l.type().map(Object::toString).orElse(null),
                "protocol", l.protocol(), "state", l.groupState().map(Object::toString).orElse(null),
                "simple", l.isSimpleConsumerGroup()));
        }
        return out;
    }

    /** describeClassicGroups (4.x only: DescribeGroups straight away). */
    public static Object describeClassic(Admin admin, String group) throws Exception {
        ClassicGroupDescription d = admin.describeClassicGroups(Collections.singleton(group)).all().get().get(group);
        List<Object> ms = Json.list();
        for (MemberDescription m : d.members()) {
            ms.add(Json.obj("member_id", m.consumerId(), "client_id", m.clientId(),
                "partitions", m.assignment().topicPartitions().size()));
        }
        return Json.obj("protocol", d.protocol(), "protocol_data", d.protocolData(), "state", d.state().toString(),
            "simple", d.isSimpleConsumerGroup(), "coordinator", d.coordinator().id(), "members", ms);
    }

    /** The legacy alterConfigs call is gone from the 4.x Admin. */
    public static Object alterConfigsLegacy(Admin admin, String topic, Map<String, String> set) {
        return "absent in 4.x";
    }

    public static OffsetSpec earliestPendingUpload() {
        return OffsetSpec.earliestPendingUpload();
    }
}
