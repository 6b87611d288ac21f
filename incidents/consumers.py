from channels.generic.websocket import AsyncJsonWebsocketConsumer


class IncidentConsumer(AsyncJsonWebsocketConsumer):
    pass
