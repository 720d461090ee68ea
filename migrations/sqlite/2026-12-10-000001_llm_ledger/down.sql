DROP TABLE llm_model_pace;
DROP TABLE llm_cache;
DROP TABLE llm_calls;
