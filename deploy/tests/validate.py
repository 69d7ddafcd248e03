"""Validates a YAML stream of manifests written by `fnwire kube`.

Kubernetes objects are checked against the Kubernetes OpenAPI schemas that kubernetes-validate
carries (strict: unknown fields fail); ScaledObjects against the KEDA field schema committed next
to this file. Prints one line per object; exits 1 naming each object that fails.
"""
import json
import pathlib
import sys

import jsonschema
import kubernetes_validate
import yaml

KUBERNETES_VERSION = sys.argv[2] if len(sys.argv) > 2 else "1.33"
SCHEMA = json.loads((pathlib.Path(__file__).parent / "data" / "keda-scaledobject.schema.json").read_text())

failures = []
documents = [d for d in yaml.safe_load_all(pathlib.Path(sys.argv[1]).read_text()) if d is not None]
for doc in documents:
    label = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
    try:
        if doc.get("apiVersion", "").startswith("keda.sh/"):
            jsonschema.validate(doc, SCHEMA)
        else:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        print(f"valid {label}")
    except (jsonschema.ValidationError, kubernetes_validate.ValidationError) as e:
        failures.append(f"{label}: {getattr(e, 'message', e)}")
    except Exception as e:  # an unknown kind or version is a failure too, not a skip
        failures.append(f"{label}: {type(e).__name__}: {e}")
if not documents:
    failures.append("no objects in the file")
for f in failures:
    print(f"INVALID {f}")
sys.exit(1 if failures else 0)
