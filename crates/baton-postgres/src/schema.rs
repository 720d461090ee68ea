// The tables of migrations/postgres, for diesel's query builder.

diesel::table! {
    workflows (id) {
        id -> Uuid,
        owner_id -> Uuid,
        name -> Text,
        status -> Text,
        input -> Jsonb,
        output -> Nullable<Jsonb>,
        error -> Nullable<Jsonb>,
        current_position -> Int4,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        started_at -> Nullable<Timestamptz>,
        finished_at -> Nullable<Timestamptz>,
        unfinished -> Int4,
        output_task -> Nullable<Uuid>,
        parent_id -> Nullable<Uuid>,
        parent_task_id -> Nullable<Uuid>,
        concurrency_key -> Nullable<Text>,
        concurrency_limit -> Nullable<Int4>,
        queued_at -> Nullable<Timestamptz>,
        definition_name -> Nullable<Text>,
        definition_version -> Nullable<Int4>,
        schedule_id -> Nullable<Uuid>,
        scheduled_at -> Nullable<Timestamptz>,
        budget -> Nullable<Jsonb>,
        paused -> Nullable<Jsonb>,
    }
}

diesel::table! {
    tasks (id) {
        id -> Uuid,
        workflow_id -> Uuid,
        owner_id -> Uuid,
        position -> Int4,
        key -> Nullable<Text>,
        title -> Text,
        #[sql_name = "type"]
        task_type -> Text,
        input -> Jsonb,
        resolved_input -> Nullable<Jsonb>,
        status -> Text,
        attempt -> Int4,
        max_attempts -> Int4,
        backoff_initial_ms -> Int8,
        backoff_max_ms -> Int8,
        backoff_multiplier -> Float8,
        timeout_ms -> Int8,
        output -> Nullable<Jsonb>,
        error -> Nullable<Jsonb>,
        available_at -> Nullable<Timestamptz>,
        lease_owner -> Nullable<Text>,
        lease_expires_at -> Nullable<Timestamptz>,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        started_at -> Nullable<Timestamptz>,
        finished_at -> Nullable<Timestamptz>,
        depends_on -> Nullable<Jsonb>,
        run_if -> Nullable<Text>,
        dependents -> Array<Uuid>,
        waiting_on -> Int4,
        for_each -> Nullable<Text>,
        max_parallel -> Nullable<Int4>,
        parent_task_id -> Nullable<Uuid>,
        element_index -> Nullable<Int4>,
        item -> Nullable<Jsonb>,
        elements -> Nullable<Int4>,
        child_workflow_id -> Nullable<Uuid>,
        waiting_since -> Nullable<Timestamptz>,
        wake_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    signals (id) {
        id -> Uuid,
        seq -> Int8,
        workflow_id -> Uuid,
        name -> Text,
        payload -> Jsonb,
        created_at -> Timestamptz,
        consumed_by -> Nullable<Uuid>,
        consumed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    events (id) {
        id -> Int8,
        workflow_id -> Uuid,
        task_id -> Nullable<Uuid>,
        attempt -> Nullable<Int4>,
        #[sql_name = "type"]
        event_type -> Text,
        data -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    documents (id) {
        id -> Uuid,
        owner_id -> Uuid,
        collection -> Text,
        workflow_id -> Uuid,
        task_id -> Uuid,
        data -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    secrets (id) {
        id -> Uuid,
        owner_id -> Uuid,
        name -> Text,
        nonce -> Bytea,
        ciphertext -> Bytea,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    definitions (id) {
        id -> Uuid,
        owner_id -> Uuid,
        name -> Text,
        version -> Int4,
        description -> Nullable<Text>,
        input_schema -> Nullable<Jsonb>,
        defaults -> Jsonb,
        tasks -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    schedules (id) {
        id -> Uuid,
        owner_id -> Uuid,
        definition -> Text,
        version -> Nullable<Int4>,
        input -> Jsonb,
        cron -> Text,
        timezone -> Text,
        misfire -> Text,
        paused -> Bool,
        next_fire_at -> Nullable<Timestamptz>,
        last_fired_at -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::allow_tables_to_appear_in_same_query!(definitions, schedules);

diesel::table! {
    llm_calls (id) {
        id -> Uuid,
        owner_id -> Uuid,
        workflow_id -> Uuid,
        task_id -> Uuid,
        attempt -> Int4,
        model -> Text,
        prompt_tokens -> Int8,
        completion_tokens -> Int8,
        estimated -> Bool,
        latency_ms -> Int8,
        first_token_ms -> Nullable<Int8>,
        finish_reason -> Nullable<Text>,
        cost_usd -> Nullable<Float8>,
        cached -> Bool,
        error -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    llm_cache (key) {
        key -> Text,
        owner_id -> Uuid,
        answer -> Jsonb,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    llm_model_pace (model) {
        model -> Text,
        requests_at -> Nullable<Timestamptz>,
        tokens_at -> Nullable<Timestamptz>,
        held_until -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    llm_reservations (task_id) {
        task_id -> Uuid,
        workflow_id -> Uuid,
        tokens -> Int8,
        cost_usd -> Float8,
        created_at -> Timestamptz,
    }
}
