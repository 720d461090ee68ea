// The tables of migrations/sqlite, for diesel's query builder. Ids are UUID text, JSON is text,
// times are text in the one format of `crate::time`.

diesel::table! {
    workflows (id) {
        id -> Text,
        owner_id -> Text,
        name -> Text,
        status -> Text,
        input -> Text,
        output -> Nullable<Text>,
        error -> Nullable<Text>,
        current_position -> Integer,
        version -> Integer,
        created_at -> Text,
        updated_at -> Text,
        started_at -> Nullable<Text>,
        finished_at -> Nullable<Text>,
        unfinished -> Integer,
        output_task -> Nullable<Text>,
        parent_id -> Nullable<Text>,
        parent_task_id -> Nullable<Text>,
        concurrency_key -> Nullable<Text>,
        concurrency_limit -> Nullable<Integer>,
        queued_at -> Nullable<Text>,
        definition_name -> Nullable<Text>,
        definition_version -> Nullable<Integer>,
        schedule_id -> Nullable<Text>,
        scheduled_at -> Nullable<Text>,
        budget -> Nullable<Text>,
        paused -> Nullable<Text>,
    }
}

diesel::table! {
    tasks (id) {
        id -> Text,
        workflow_id -> Text,
        owner_id -> Text,
        position -> Integer,
        key -> Nullable<Text>,
        title -> Text,
        #[sql_name = "type"]
        task_type -> Text,
        input -> Text,
        resolved_input -> Nullable<Text>,
        status -> Text,
        attempt -> Integer,
        max_attempts -> Integer,
        backoff_initial_ms -> BigInt,
        backoff_max_ms -> BigInt,
        backoff_multiplier -> Double,
        timeout_ms -> BigInt,
        output -> Nullable<Text>,
        error -> Nullable<Text>,
        available_at -> Nullable<Text>,
        lease_owner -> Nullable<Text>,
        lease_expires_at -> Nullable<Text>,
        version -> Integer,
        created_at -> Text,
        updated_at -> Text,
        started_at -> Nullable<Text>,
        finished_at -> Nullable<Text>,
        depends_on -> Nullable<Text>,
        run_if -> Nullable<Text>,
        dependents -> Text,
        waiting_on -> Integer,
        for_each -> Nullable<Text>,
        max_parallel -> Nullable<Integer>,
        parent_task_id -> Nullable<Text>,
        element_index -> Nullable<Integer>,
        item -> Nullable<Text>,
        elements -> Nullable<Integer>,
        child_workflow_id -> Nullable<Text>,
        waiting_since -> Nullable<Text>,
        wake_at -> Nullable<Text>,
    }
}

diesel::table! {
    signals (id) {
        id -> Text,
        seq -> BigInt,
        workflow_id -> Text,
        name -> Text,
        payload -> Text,
        created_at -> Text,
        consumed_by -> Nullable<Text>,
        consumed_at -> Nullable<Text>,
    }
}

diesel::table! {
    events (id) {
        id -> BigInt,
        workflow_id -> Text,
        task_id -> Nullable<Text>,
        attempt -> Nullable<Integer>,
        #[sql_name = "type"]
        event_type -> Text,
        data -> Text,
        created_at -> Text,
    }
}

diesel::table! {
    documents (id) {
        id -> Text,
        owner_id -> Text,
        collection -> Text,
        workflow_id -> Text,
        task_id -> Text,
        data -> Text,
        created_at -> Text,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        email -> Text,
        password_hash -> Text,
        role -> Text,
        created_at -> Text,
        updated_at -> Text,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Text,
        owner_id -> Text,
        name -> Text,
        prefix -> Text,
        key_hash -> Binary,
        created_at -> Text,
        revoked_at -> Nullable<Text>,
    }
}

diesel::table! {
    idempotency_keys (principal, key) {
        principal -> Text,
        key -> Text,
        fingerprint -> Binary,
        status -> Nullable<SmallInt>,
        headers -> Text,
        body -> Nullable<Binary>,
        created_at -> Text,
        completed_at -> Nullable<Text>,
    }
}

diesel::table! {
    secrets (id) {
        id -> Text,
        owner_id -> Text,
        name -> Text,
        nonce -> Binary,
        ciphertext -> Binary,
        created_at -> Text,
        updated_at -> Text,
    }
}

diesel::joinable!(tasks -> workflows (workflow_id));
diesel::joinable!(api_keys -> users (owner_id));
diesel::allow_tables_to_appear_in_same_query!(workflows, tasks, events, documents);
diesel::allow_tables_to_appear_in_same_query!(users, api_keys);

diesel::table! {
    definitions (id) {
        id -> Text,
        owner_id -> Text,
        name -> Text,
        version -> Integer,
        description -> Nullable<Text>,
        input_schema -> Nullable<Text>,
        defaults -> Text,
        tasks -> Text,
        created_at -> Text,
    }
}

diesel::table! {
    schedules (id) {
        id -> Text,
        owner_id -> Text,
        definition -> Text,
        version -> Nullable<Integer>,
        input -> Text,
        cron -> Text,
        timezone -> Text,
        misfire -> Text,
        paused -> Bool,
        next_fire_at -> Nullable<Text>,
        last_fired_at -> Nullable<Text>,
        last_error -> Nullable<Text>,
        created_at -> Text,
        updated_at -> Text,
    }
}

diesel::allow_tables_to_appear_in_same_query!(definitions, schedules);

diesel::table! {
    llm_calls (id) {
        id -> Text,
        owner_id -> Text,
        workflow_id -> Text,
        task_id -> Text,
        attempt -> Integer,
        model -> Text,
        prompt_tokens -> BigInt,
        completion_tokens -> BigInt,
        estimated -> Bool,
        latency_ms -> BigInt,
        first_token_ms -> Nullable<BigInt>,
        finish_reason -> Nullable<Text>,
        cost_usd -> Nullable<Double>,
        cached -> Bool,
        error -> Nullable<Text>,
        created_at -> Text,
    }
}

diesel::table! {
    llm_cache (key) {
        key -> Text,
        owner_id -> Text,
        answer -> Text,
        created_at -> Text,
        expires_at -> Text,
    }
}

diesel::table! {
    llm_model_pace (model) {
        model -> Text,
        requests_at -> Nullable<Text>,
        tokens_at -> Nullable<Text>,
        held_until -> Nullable<Text>,
    }
}

diesel::table! {
    llm_reservations (task_id) {
        task_id -> Text,
        workflow_id -> Text,
        tokens -> BigInt,
        cost_usd -> Double,
        created_at -> Text,
    }
}
