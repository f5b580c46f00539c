# bk-monitor's count_md5 (bkmonitor/utils/common_utils.py), as the wire reference §5.1 gives it.
import json, hashlib
def count_md5(content, dict_sort=True, list_sort=True):
    if dict_sort and isinstance(content, dict):
        return count_md5([(str(k), count_md5(content[k], dict_sort, list_sort)) for k in sorted(content.keys(), key=str)], dict_sort, list_sort)
    elif isinstance(content, (list, tuple, set)):
        content = sorted([count_md5(k, dict_sort) for k in content]) if list_sort else content
    return hashlib.md5(str(content).encode("utf-8")).hexdigest()

cases = [
  ["2", "HOST", "10.0.0.1", 2],
  [1, None, True, False, 1.0, 0.1, 1e16, 1.5e-05, 123456789.125, -0.0],
  ["CPU使用率过高", "", "server01"],
  [[1, "a", None], {"b": 2, "a": [3, 4]}],
  [{"k": {"x": None}}, [], {}],
]
for c in cases:
    print(json.dumps(c, ensure_ascii=False), count_md5(c))
for v in [1.0, 0.1, 1e16, 1.5e-05, 123456789.125, -0.0, 1e22, 2.5e-7, 0.0001, 1e15, 12345678901234567.0, float('inf')]:
    print(repr(v), str(v))
