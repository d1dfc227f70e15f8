// A bridge for the FileStream connectors on a Kafka 4.4 Connect worker, put on the worker's
// classpath by test_kafka_connect.py.
//
// connect-file 4.3.1 (the newest on Maven Central) answers version() with
// org.apache.kafka.common.utils.AppInfoParser.getVersion(); Kafka 4.4's kafka-clients has that class
// only as org.apache.kafka.common.utils.internals.AppInfoParser, so the 4.3.1 plugin fails with
// NoClassDefFoundError on a 4.4 worker (plugin scan and POST /connectors alike). The worker loads
// org.apache.kafka.common.* from its own classpath for every plugin, so this class is found there.
// Nothing else of connect-file 4.3.1 is missing from 4.4.
package org.apache.kafka.common.utils;

public final class AppInfoParser {
    private AppInfoParser() {}

    public static String getVersion() {
        return org.apache.kafka.common.utils.internals.AppInfoParser.getVersion();
    }

    public static String getCommitId() {
        return org.apache.kafka.common.utils.internals.AppInfoParser.getCommitId();
    }
}
