import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigsResult;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.ConsumerGroupListing;
import org.apache.kafka.clients.admin.ListConsumerGroupsOptions;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.common.ConsumerGroupState;
import org.apache.kafka.common.GroupType;
import org.apache.kafka.common.config.ConfigResource;

/** What differs between the 4.x and 3.x clients (this is the 3.x side; v4/Versioned.java the other). */
public final class Versioned {
    private Versioned() {}

    public static final String CLIENT = "3";

    public static String state(ConsumerGroupDescription d) {
        return d.state().toString();
    }

    /** listConsumerGroups (3.x): everything, by state, by type. */
    public static Map<String, Object> listGroups(Admin admin) throws Exception {
        Map<String, Object> out = Json.obj();
        out.put("all", listings(admin.listConsumerGroups().all().get()));
        out.put("stable", listings(admin.listConsumerGroups(new ListConsumerGroupsOptions()
            .inStates(Collections.singleton(ConsumerGroupState.STABLE))).all().get()));
        out.put("empty", listings(admin.listConsumerGroups(new ListConsumerGroupsOptions()
            .inStates(Collections.singleton(ConsumerGroupState.EMPTY))).all().get()));
        out.put("classic", listings(admin.listConsumerGroups(new ListConsumerGroupsOptions()
            .withTypes(Collections.singleton(GroupType.CLASSIC))).all().get()));
        out.put("consumer_type", listings(admin.listConsumerGroups(new ListConsumerGroupsOptions()
            .withTypes(Collections.singleton(GroupType.CONSUMER))).all().get()));
        return out;
    }

    static List<Object> listings(java.util.Collection<ConsumerGroupListing> ls) {
        List<Object> out = Json.list();
        for (ConsumerGroupListing l : ls) {
            out.add(Json.obj("group_id", l.groupId(), "type", l.type().map(Object::toString).orElse(null),
                "protocol", null, "state", l.state().map(Object::toString).orElse(null),
                "simple", l.isSimpleConsumerGroup()));
        }
        return out;
    }

    public static Object describeClassic(Admin admin, String group) {
        return "absent in 3.x";
    }

    /** The legacy AlterConfigs request: the whole set of a topic's dynamic configs at once. */
    @SuppressWarnings("deprecation")
    public static Object alterConfigsLegacy(Admin admin, String topic, Map<String, String> set) {
        List<ConfigEntry> entries = new ArrayList<>();
        for (Map.Entry<String, String> e : set.entrySet()) entries.add(new ConfigEntry(e.getKey(), e.getValue()));
        ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        AlterConfigsResult res = admin.alterConfigs(Collections.singletonMap(r, new Config(entries)));
        String err = Util.errOf(res.all());
        return err == null ? "ok" : err;
    }

    public static OffsetSpec earliestPendingUpload() {
        return null;
    }
}
