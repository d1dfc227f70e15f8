// Prints the names of every broker setting the Apache Kafka on the classpath knows, one per line,
// sorted (kafka.server.KafkaConfig's ConfigDef). Used to keep src/odradek/kafka_config_names.py true.
public class KafkaConfigNames {
    public static void main(String[] args) {
        org.apache.kafka.common.config.ConfigDef def = kafka.server.KafkaConfig.configDef();
        for (String name : new java.util.TreeSet<String>(def.names())) {
            System.out.println(name);
        }
    }
}
