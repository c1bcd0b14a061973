import { Type } from 'typebox';

/**
 * The part of KEDA's ScaledObject (keda.sh/v1alpha1) that deploy/kubernetes uses, field
 * for field from KEDA's CRD (config/crd/bases/keda.sh_scaledobjects.yaml in kedacore/keda;
 * `advanced.scalingModifiers` since KEDA 2.12) and the `redis` scaler's documented
 * metadata. kubernetes-models has no KEDA types. Closed objects: a mistyped field, which
 * KEDA would ignore (a trigger reading nothing), fails here.
 */
const Closed = { additionalProperties: false } as const;
const Int32 = Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1 });
/** The CRD types these as strings; a number here is rejected by the API server. */
const Quantity = Type.String({ pattern: '^[0-9]+(\\.[0-9]+)?$' });

const HpaPolicy = Type.Object(
  {
    type: Type.Union([Type.Literal('Pods'), Type.Literal('Percent')]),
    value: Type.Integer({ minimum: 1 }),
    periodSeconds: Type.Integer({ minimum: 1, maximum: 1800 }),
  },
  Closed,
);
const HpaRules = Type.Object(
  {
    stabilizationWindowSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 3600 })),
    selectPolicy: Type.Optional(
      Type.Union([Type.Literal('Max'), Type.Literal('Min'), Type.Literal('Disabled')]),
    ),
    policies: Type.Optional(Type.Array(HpaPolicy, { minItems: 1 })),
  },
  Closed,
);

/** The `redis` (lists) scaler: https://keda.sh/docs/scalers/redis-lists/ */
export const RedisTriggerMetadata = Type.Object(
  {
    address: Type.Optional(Type.String()),
    addressFromEnv: Type.Optional(Type.String()),
    host: Type.Optional(Type.String()),
    hostFromEnv: Type.Optional(Type.String()),
    port: Type.Optional(Type.String()),
    portFromEnv: Type.Optional(Type.String()),
    usernameFromEnv: Type.Optional(Type.String()),
    passwordFromEnv: Type.Optional(Type.String()),
    listName: Type.String({ minLength: 1 }),
    listLength: Quantity,
    activationListLength: Type.Optional(Quantity),
    enableTLS: Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false')])),
    unsafeSsl: Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false')])),
    databaseIndex: Type.Optional(Type.String({ pattern: '^[0-9]+$' })),
  },
  Closed,
);

const Trigger = Type.Object(
  {
    type: Type.Literal('redis'),
    // Required here (the CRD makes it optional): scalingModifiers' formula names triggers.
    name: Type.String({ pattern: '^[a-z][a-z0-9_]*$' }),
    metadata: RedisTriggerMetadata,
    metricType: Type.Optional(Type.Union([Type.Literal('AverageValue'), Type.Literal('Value')])),
    authenticationRef: Type.Optional(
      Type.Object({ name: Type.String(), kind: Type.Optional(Type.String()) }, Closed),
    ),
    useCachedMetrics: Type.Optional(Type.Boolean()),
  },
  Closed,
);

export const ScaledObject = Type.Object({
  apiVersion: Type.Literal('keda.sh/v1alpha1'),
  kind: Type.Literal('ScaledObject'),
  metadata: Type.Object({
    name: Type.String({ pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' }),
    namespace: Type.Optional(Type.String()),
    labels: Type.Optional(Type.Record(Type.String(), Type.String())),
    annotations: Type.Optional(Type.Record(Type.String(), Type.String())),
  }),
  spec: Type.Object(
    {
      scaleTargetRef: Type.Object(
        {
          name: Type.String(),
          apiVersion: Type.Optional(Type.String()),
          kind: Type.Optional(Type.String()),
          envSourceContainerName: Type.Optional(Type.String()),
        },
        Closed,
      ),
      pollingInterval: Type.Optional(Int32),
      cooldownPeriod: Type.Optional(Int32),
      initialCooldownPeriod: Type.Optional(Int32),
      idleReplicaCount: Type.Optional(Int32),
      minReplicaCount: Type.Optional(Int32),
      maxReplicaCount: Type.Optional(Int32),
      advanced: Type.Optional(
        Type.Object(
          {
            restoreToOriginalReplicaCount: Type.Optional(Type.Boolean()),
            scalingModifiers: Type.Optional(
              Type.Object(
                {
                  formula: Type.String({ minLength: 1 }),
                  target: Quantity,
                  activationTarget: Type.Optional(Quantity),
                  metricType: Type.Optional(
                    Type.Union([Type.Literal('AverageValue'), Type.Literal('Value')]),
                  ),
                },
                Closed,
              ),
            ),
            horizontalPodAutoscalerConfig: Type.Optional(
              Type.Object(
                {
                  name: Type.Optional(Type.String()),
                  behavior: Type.Optional(
                    Type.Object(
                      { scaleUp: Type.Optional(HpaRules), scaleDown: Type.Optional(HpaRules) },
                      Closed,
                    ),
                  ),
                },
                Closed,
              ),
            ),
          },
          Closed,
        ),
      ),
      triggers: Type.Array(Trigger, { minItems: 1 }),
    },
    Closed,
  ),
});
