"""Patient register permissions. Clinical records get their own permissions in the clinical context."""

from enum import StrEnum

from carebase.identity.roles import Role


class PatientPermission(StrEnum):
    READ = "patients.register.read"
    REGISTER = "patients.register.write"
    READ_OWN = "patients.self.read"
    JOIN_CLINIC = "patients.clinics.join"


DESCRIPTIONS = {
    PatientPermission.READ: "Search the patient register and open a patient's registration",
    PatientPermission.REGISTER: "Register patients and correct their details",
    PatientPermission.READ_OWN: "See one's own registration (patients)",
    PatientPermission.JOIN_CLINIC: "Register oneself with another clinic of the marketplace (patients)",
}

_CARE = {PatientPermission.READ, PatientPermission.REGISTER}

GRANTS = {
    Role.HOSPITAL_ADMIN: {PatientPermission.READ},
    Role.DOCTOR: _CARE,
    Role.NURSE: _CARE,
    Role.RECEPTIONIST: _CARE,
    Role.PHARMACIST: {PatientPermission.READ},
    Role.LAB_STAFF: {PatientPermission.READ},
    Role.PATIENT: {PatientPermission.READ_OWN, PatientPermission.JOIN_CLINIC},
}
