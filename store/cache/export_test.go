package cache

// Keys for tests that look at Redis directly.
var (
	AgentKey    = agentKey
	CustomerKey = customerKey
)

// Tombstone is what an invalidated key holds in Redis.
const Tombstone = tombstone
