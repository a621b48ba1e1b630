"""How a restoration is scored and compared: the metrics, the evaluation rows' schema, paired bootstrap
intervals, the memo of scored rows and the study's tables (pure DataFrame functions). It sits below
``networks`` because the trainer validates with its metrics; it never imports a network."""
