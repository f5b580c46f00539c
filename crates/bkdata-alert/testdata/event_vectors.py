# dedupe_md5 and event ids of the events in `event::tests`, by bk-monitor's count_md5 over
# the values the cleaning rules of the wire reference §5.1 give each dedupe key.
import json, hashlib
exec(open(__file__.replace("event_vectors.py", "count_md5.py")).read().split("cases =")[0])

# E1: no strategy; caller keys tags.host and ip (absent -> None); target_type upper-cased.
print("e1 md5", count_md5(["CPU使用率过高", "HOST", "10.0.0.1", 2, "server01", None]))
print("e1 id ", count_md5(["bk_monitor", "e1", "ABNORMAL", 1700000000]))
# E2: strategy "42" -> 42; no target_type ("") or target (None); bk_biz_id kept as the string
# "2"; a dict tag value JSON-encoded as Python does; time in ms -> s; RECOVERED; no plugin_id.
print("e2 md5", count_md5([42, "", None, "2", json.dumps({"a": "中", "b": 1.0})]))
print("e2 id ", count_md5([None, "e2", "RECOVERED", 1700000000]))
# E3: a K8S target dedupes without target (None) and target_type (""); a list tag value.
print("e3 md5", count_md5([7, "", None, 3, [1, 2.5]]))
print("e3 id ", count_md5(["fta", "e3", "ABNORMAL", 1700000100]))
