"""Import every model so ``Base.metadata`` is complete (used by Alembic and tests)."""

from engine.attachments.models import Attachment
from engine.audit.models import (
    AuditAction,
    AuditChainHead,
    AuditEvent,
    AuditPending,
    AuditSeal,
    AuditSigning,
)
from engine.db import Base
from engine.deadlines.holiday_models import HolidayCalendarVersion, HolidayDay, HolidayYear
from engine.deadlines.models import StartSchedule
from engine.decisions.models import DecisionDefinition
from engine.definitions.models import ProcessDefinition
from engine.documents.models import DocumentTemplateVersion
from engine.formversions.models import FormVersion
from engine.households.models import CaseHousehold, Household, Person
from engine.idempotency.models import IdempotencyKey
from engine.incidents.models import Incident, IncidentStatus
from engine.instances.models import InstanceStatus, ProcessInstance
from engine.ledger.models import ServiceRecord
from engine.messages.models import BufferedMessage, MessageSubscription
from engine.notifications.models import EmailStatus, Notification, NotificationKind
from engine.orgs.models import OrgLevel, OrgUnit
from engine.policy.models import PolicyParameterSet
from engine.records.models import StepRecord
from engine.recusal.models import NearRelativeFiling
from engine.serviceorgs.models import ServiceOrganisation, ServiceOrganisationMember
from engine.system.models import SchedulerHeartbeat
from engine.tasks.models import HumanTask, SlaLevel, TaskStatus
from engine.twinning.models import TwinningPairing
from engine.users.models import (
    ApiToken,
    ExternalIdentity,
    LoginFailure,
    Role,
    RoleGrant,
    User,
    WebSession,
)

__all__ = [
    "BufferedMessage",
    "MessageSubscription",
    "PolicyParameterSet",
    "DecisionDefinition",
    "ApiToken",
    "ExternalIdentity",
    "Attachment",
    "AuditAction",
    "AuditChainHead",
    "AuditPending",
    "AuditSeal",
    "AuditSigning",
    "AuditEvent",
    "Base",
    "DocumentTemplateVersion",
    "HolidayCalendarVersion",
    "HolidayDay",
    "HolidayYear",
    "HumanTask",
    "IdempotencyKey",
    "Incident",
    "IncidentStatus",
    "EmailStatus",
    "FormVersion",
    "CaseHousehold",
    "Household",
    "Person",
    "InstanceStatus",
    "LoginFailure",
    "NearRelativeFiling",
    "Notification",
    "NotificationKind",
    "OrgLevel",
    "OrgUnit",
    "ProcessDefinition",
    "ProcessInstance",
    "Role",
    "SlaLevel",
    "StartSchedule",
    "StepRecord",
    "RoleGrant",
    "SchedulerHeartbeat",
    "ServiceRecord",
    "ServiceOrganisation",
    "ServiceOrganisationMember",
    "TaskStatus",
    "TwinningPairing",
    "User",
    "WebSession",
]
