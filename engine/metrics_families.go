package engine

// Family is one metric family Rotor exposes under Centrifugo v6's name: its
// Prometheus type, label names (sorted) and HELP text. /metrics writes the HELP
// and TYPE lines from this list, the node info snapshot reads the types from it,
// and the tests check the output against it.
type Family struct {
	Name, Type string
	Labels     []string
	Help       string
}

// Families lists every centrifugo_* family: the engine's own, and those the server
// API (api), proxies (engine, proxy.go) and the Redis broker (broker/redis) count.
var Families = []Family{
	{"centrifugo_node_num_clients", "gauge", nil, "Number of clients connected to this node."},
	{"centrifugo_node_num_users", "gauge", nil, "Number of distinct users connected to this node."},
	{"centrifugo_node_num_channels", "gauge", nil, "Number of channels with at least one subscriber on this node."},
	{"centrifugo_node_num_subscriptions", "gauge", nil, "Number of client subscriptions on this node."},
	{"centrifugo_node_num_nodes", "gauge", nil, "Number of nodes in the cluster, this one included."},
	{"centrifugo_node_build", "gauge", []string{"version"}, "Build information of the node (always 1)."},
	{"centrifugo_node_messages_sent_count", "counter", []string{"channel_namespace", "type"}, "Messages this node handed to the broker, by type."},
	{"centrifugo_node_messages_received_count", "counter", []string{"channel_namespace", "type"}, "Messages this node got from the broker, by type."},
	{"centrifugo_node_action_count", "counter", []string{"action", "channel_namespace"}, "Node operations performed, by action."},
	{"centrifugo_node_broadcast_duration_seconds", "histogram", []string{"channel_namespace", "type"}, "Time spent delivering one message to the local subscribers of its channel."},
	{"centrifugo_node_pub_sub_lag_seconds", "histogram", []string{"channel_namespace"}, "Delay between a publication's creation and its arrival from the broker."},
	{"centrifugo_node_survey_duration_seconds", "summary", []string{"op"}, "Duration of cluster surveys (deprecated by Centrifugo in favour of the _histogram family)."},
	{"centrifugo_node_survey_duration_seconds_histogram", "histogram", []string{"op"}, "Duration of cluster surveys."},
	{"centrifugo_node_client_connection_limit", "counter", nil, "Connections refused because client.connection_limit was reached."},
	{"centrifugo_node_tags_filter_dropped_publications", "counter", []string{"channel_namespace"}, "Publications not delivered to a subscriber because its tags filter did not match."},
	{"centrifugo_client_connections_accepted", "counter", []string{"accept_protocol", "client_name", "client_version", "transport"}, "Client connections that completed connect."},
	{"centrifugo_client_connections_inflight", "gauge", []string{"accept_protocol", "client_name", "client_version", "transport"}, "Client connections currently open and connected."},
	{"centrifugo_client_subscriptions_accepted", "counter", []string{"channel_namespace", "client_name"}, "Subscriptions that were established."},
	{"centrifugo_client_subscriptions_inflight", "gauge", []string{"channel_namespace", "client_name"}, "Subscriptions currently active."},
	{"centrifugo_client_command_duration_seconds", "summary", []string{"channel_namespace", "method"}, "Time to handle a client command (deprecated by Centrifugo in favour of the _histogram family)."},
	{"centrifugo_client_command_duration_seconds_histogram", "histogram", []string{"channel_namespace", "method"}, "Time to handle a client command."},
	{"centrifugo_client_num_reply_errors", "counter", []string{"channel_namespace", "code", "method"}, "Error replies sent to clients, by method and error code."},
	{"centrifugo_client_num_server_disconnects", "counter", []string{"code"}, "Client connections the server closed, by disconnect code."},
	{"centrifugo_client_num_server_unsubscribes", "counter", []string{"channel_namespace", "code"}, "Subscriptions the server ended, by unsubscribe code."},
	{"centrifugo_client_recover", "counter", []string{"channel_namespace", "has_recovered_publications", "recovered"}, "Subscription recovery attempts, by outcome."},
	{"centrifugo_client_ping_pong_duration_seconds", "histogram", []string{"transport"}, "Time between a server ping and the client's pong."},
	{"centrifugo_transport_messages_sent", "counter", []string{"channel_namespace", "frame_type", "transport"}, "Messages queued to client connections, by transport and frame type."},
	{"centrifugo_transport_messages_sent_size", "counter", []string{"channel_namespace", "frame_type", "transport"}, "Bytes of messages queued to client connections (encoded, before framing)."},
	{"centrifugo_transport_messages_received", "counter", []string{"channel_namespace", "frame_type", "transport"}, "Commands received from client connections, by transport and frame type."},
	{"centrifugo_transport_messages_received_size", "counter", []string{"channel_namespace", "frame_type", "transport"}, "Bytes received from client connections (payload, before unframing)."},
	{"centrifugo_transport_outgoing_close_count", "counter", []string{"code", "transport"}, "Close frames sent to clients, by transport and code."},
	{"centrifugo_api_command_duration_seconds", "summary", []string{"method", "protocol"}, "Time to execute a server API command (deprecated by Centrifugo in favour of the _histogram family)."},
	{"centrifugo_api_command_duration_seconds_histogram", "histogram", []string{"method", "protocol"}, "Time to execute a server API command."},
	{"centrifugo_api_command_errors_total", "counter", []string{"error", "method", "protocol"}, "Server API commands that returned an error, by error code."},
	{"centrifugo_proxy_duration_seconds", "summary", []string{"name", "protocol", "type"}, "Duration of backend proxy calls (deprecated by Centrifugo in favour of the _histogram family)."},
	{"centrifugo_proxy_duration_seconds_histogram", "histogram", []string{"name", "protocol", "type"}, "Duration of backend proxy calls."},
	{"centrifugo_proxy_errors", "counter", []string{"name", "protocol", "type"}, "Backend proxy calls that failed."},
	{"centrifugo_proxy_inflight_requests", "gauge", []string{"name", "protocol", "type"}, "Backend proxy calls in progress."},
	{"centrifugo_broker_redis_pub_sub_dropped_messages", "counter", []string{"broker_name", "channel_type"}, "Redis Pub/Sub messages dropped because the node's workers fell behind."},
	{"centrifugo_broker_redis_pub_sub_errors", "counter", []string{"broker_name", "error"}, "Redis Pub/Sub connection and message handling errors."},
}

var familyByName = func() map[string]*Family {
	m := make(map[string]*Family, len(Families))
	for i := range Families {
		m[Families[i].Name] = &Families[i]
	}
	return m
}()

// FamilyHelp returns the HELP text and type of the family name ("" when Rotor
// does not describe it).
func FamilyHelp(name string) (help, typ string) {
	if f, ok := familyByName[name]; ok {
		return f.Help, f.Type
	}
	return "", ""
}
