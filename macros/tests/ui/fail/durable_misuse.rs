use fnwire::durable::{EntityContext, OrchestrationContext};
use fnwire::{activity_trigger, entity_trigger, orchestration_trigger};

// An orchestrator is replayed by polling its future: it must be async.
#[orchestration_trigger]
pub fn not_async(ctx: OrchestrationContext) -> Result<(), String> {
    let _ = ctx;
    Ok(())
}

// The orchestrator's parameter is its context.
#[orchestration_trigger]
pub async fn wrong_context(ctx: String) -> Result<(), String> {
    let _ = ctx;
    Ok(())
}

// An orchestrator returns Result<T, E>.
#[orchestration_trigger]
pub async fn wrong_return(ctx: OrchestrationContext) -> u32 {
    let _ = ctx;
    1
}

pub struct NotDeserialize;

// An activity's input is deserialized.
#[activity_trigger]
pub fn wrong_input(input: NotDeserialize) -> Result<(), String> {
    let _ = input;
    Ok(())
}

// An activity returns Result<T, E> or ().
#[activity_trigger]
pub fn wrong_output(input: String) -> String {
    input
}

// An entity takes its context.
#[entity_trigger]
pub fn wrong_entity(ctx: u32) {
    let _ = ctx;
}

#[entity_trigger]
pub fn fine_entity(ctx: EntityContext) {
    let _ = ctx;
}

fn main() {}
