package outbox

// SetBeforePublish makes the relay call f as it begins to publish a
// document's events.
func SetBeforePublish(r *Relay, f func(docID any)) { r.beforePublish = f }

// WorkerOf is the worker of the document with this _id.
func WorkerOf(id any) int { return worker(id) }
