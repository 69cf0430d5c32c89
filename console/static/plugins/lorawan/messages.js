export default {
  EN: {
    "lorawan.panel.title": "LoRaWAN identifiers",
    "lorawan.id.devEui": "DevEUI",
    "lorawan.id.joinEui": "JoinEUI (AppEUI)",
    "lorawan.id.lorawanVersion": "LoRaWAN version",
  },
  DE: {
    "lorawan.panel.title": "LoRaWAN-Kennungen",
    "lorawan.id.devEui": "DevEUI",
    "lorawan.id.joinEui": "JoinEUI (AppEUI)",
    "lorawan.id.lorawanVersion": "LoRaWAN-Version",
  },
  ES: {
    "lorawan.panel.title": "Identificadores LoRaWAN",
    "lorawan.id.devEui": "DevEUI",
    "lorawan.id.joinEui": "JoinEUI (AppEUI)",
    "lorawan.id.lorawanVersion": "Versión de LoRaWAN",
  },
  SV: {
    "lorawan.panel.title": "LoRaWAN-identifierare",
    "lorawan.id.devEui": "DevEUI",
    "lorawan.id.joinEui": "JoinEUI (AppEUI)",
    "lorawan.id.lorawanVersion": "LoRaWAN-version",
  },
};
